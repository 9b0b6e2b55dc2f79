// schema_suppress.cpp - the rows of [suppression] (see schema.hpp).
#include "config/quota_values.hpp"
#include "config/schema_values.hpp"

namespace staffel::config {
namespace {

using namespace values;  // NOLINT(google-build-using-namespace)

// [suppression] dsn_status: a table of "PATTERN" = "VERDICT" entries, each
// added to (or replacing) the defaults. A message about one entry starts
// with its quoted pattern, so that the loader locates it there: at the
// value after '"PATTERN" = ', else at the key.
std::optional<std::string> set_dsn_status(const toml::node& n, Policy& p) {
    const auto* table = n.as_table();
    if (table == nullptr) {
        return "got " + type_name(n);
    }
    auto rules = core::default_dsn_status_rules();
    for (auto&& [key, value] : *table) {
        const std::string pattern(key.str());
        if (auto parsed = core::parse_dsn_pattern(pattern); !parsed) {
            return parsed.error().message;
        }
        const auto* s = value.as_string();
        if (s == nullptr) {
            return "\"" + pattern + "\" = " + type_name(value) +
                   ": expected \"hard_bounce\", \"soft_bounce\" or \"ignore\"";
        }
        auto verdict = core::parse_dsn_verdict(s->get());
        if (!verdict) {
            return "\"" + pattern + "\" = \"" + std::string(s->get().substr(0, 32)) +
                   "\": " + verdict.error().message;
        }
        core::set_dsn_status_rule(rules, {pattern, *verdict});
    }
    p.suppression.dsn_status = std::move(rules);
    return std::nullopt;
}

}  // namespace

void add_suppression_rows(std::vector<FieldSpec>& rows) {
    using namespace std::chrono_literals;
    // [suppression]
    rows.push_back({"suppression", "enabled", "true or false", "true (once the table exists)",
                    boolean_in([](Policy& p) -> bool& { return p.suppression.enabled; })});
    rows.push_back({"suppression", "fold_local_part", "true or false", "true",
                    boolean_in([](Policy& p) -> bool& { return p.suppression.fold_local_part; })});
    rows.push_back({"suppression", "hash_secret_file",
                    "the absolute path of a file (mode 0600 or stricter) holding the secret",
                    "(addresses stored in clear)",
                    [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        const auto* s = n.as_string();
                        if (s == nullptr) {
                            return "got " + type_name(n);
                        }
                        p.suppression.hash_secret_file = s->get();
                        return read_secret(p.suppression.hash_secret_file,
                                           p.suppression.hash_secret, "secret file");
                    }});
    rows.push_back({"suppression", "unsubscribe_streams",
                    "an array of stream names, e.g. [\"bulk\"]", "[\"bulk\"]",
                    array_of<std::string>(
                        [](Policy & p) -> auto& { return p.suppression.unsubscribe_streams; },
                        quota_name, false)});
    rows.push_back(
        {"suppression", "on_store_error", "one of \"tempfail\", \"accept\"",
         "([redis] on_store_error)",
         string_with(
             [](Policy & p) -> auto& { return p.suppression.on_store_error; }, store_error_mode)});
    rows.push_back(
        {"suppression", "soft_bounce_limit", "an integer from 1 to 1000", "5",
         integer_in(
             [](Policy & p) -> auto& { return p.suppression.soft_bounce_limit; }, 1, 1000)});
    rows.push_back(
        {"suppression", "soft_bounce_window", "a duration from \"1h\" to \"365d\", e.g. \"7d\"",
         "\"7d\"",
         seconds_in(
             [](Policy & p) -> auto& { return p.suppression.soft_bounce_window; }, 1h, 24h * 365)});
    rows.push_back({"suppression", "soft_bounce_expires",
                    "a duration up to \"3650d\"; \"0\" = never", "\"30d\"",
                    seconds_in(
                        [](Policy & p) -> auto& { return p.suppression.soft_bounce_expires; }, 0h,
                        24h * 3650)});
    rows.push_back({"suppression", "dsn_status",
                    "a table of DSN status patterns to \"hard_bounce\", \"soft_bounce\" or "
                    "\"ignore\", e.g. { \"5.7.1\" = \"hard_bounce\", \"5.2.*\" = \"ignore\" }",
                    "5.x.x hard; 4.x.x, 5.2.2 soft; 5.2.3, 5.3.4, 5.6.x, 5.7.x ignore",
                    set_dsn_status});
    rows.push_back({"suppression", "local_view", "true or false", "true",
                    boolean_in([](Policy& p) -> bool& { return p.suppression.view.enabled; })});
    rows.push_back({"suppression", "local_view_poll",
                    "a duration from \"10ms\" to \"10s\", e.g. \"200ms\"", "\"200ms\"",
                    duration_in(
                        [](Policy & p) -> auto& { return p.suppression.view.poll; }, 10ms, 10s)});
    rows.push_back({"suppression", "local_view_max_lag",
                    "a duration from \"50ms\" to \"60s\", e.g. \"1s\"", "\"1s\"",
                    duration_in(
                        [](Policy & p) -> auto& { return p.suppression.view.max_lag; }, 50ms,
                        60s)});
    rows.push_back({"suppression", "local_view_rescan",
                    "a duration up to \"7d\", e.g. \"15m\"; \"0\" = only when needed",
                    "\"15m\"",
                    seconds_in(
                        [](Policy & p) -> auto& { return p.suppression.view.rescan; }, 0s,
                        24h * 7)});
    rows.push_back({"suppression", "ingest_max_size", "a size from \"1KiB\" to \"10MiB\"",
                    "\"10MiB\"",
                    size_in(
                        [](Policy & p) -> auto& { return p.suppression.ingest_max_size; },
                        std::uint64_t{1} << 10, std::uint64_t{10} << 20)});
    rows.push_back({"suppression", "ingest_memory_limit", "a size from \"64MiB\" to \"64GiB\"",
                    "\"512MiB\"",
                    size_in(
                        [](Policy & p) -> auto& { return p.suppression.ingest_memory_limit; },
                        std::uint64_t{64} << 20, std::uint64_t{64} << 30)});
}

}  // namespace staffel::config
