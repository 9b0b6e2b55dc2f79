// schema_sentinel.cpp - the rows of [redis] for Redis Sentinel and for
// WAIT after quota charges (see schema.hpp).
#include "config/schema_values.hpp"
#include "core/endpoints.hpp"

namespace staffel::config {
namespace {

using namespace values;  // NOLINT(google-build-using-namespace)
using namespace std::chrono_literals;

core::Result<std::string> master_name(std::string_view text) {
    if (text.empty() || text.size() > 128) {
        return core::make_error("a master name must hold 1 to 128 characters");
    }
    for (const char c : text) {
        if (c <= ' ' || c > '~') {
            return core::make_error("bad master name \"" + std::string(text) +
                                    "\" (printable characters without spaces)");
        }
    }
    return std::string(text);
}

}  // namespace

void add_sentinel_rows(std::vector<FieldSpec>& rows) {
    rows.push_back(
        {"redis", "sentinels",
         "an array of sentinel addresses, e.g. [\"127.0.0.1:26379\", \"10.0.0.2:26379\"]",
         "[] (no Sentinel: connect to `address`)",
         array_of<core::RedisAddress>(
             [](Policy & p) -> auto& { return p.redis.sentinels; }, core::parse_redis_address,
             true)});
    rows.push_back({"redis", "master_name", "the name the sentinels monitor the primary under",
                    "\"staffel\"",
                    string_with(
                        [](Policy & p) -> auto& { return p.redis.master_name; }, master_name)});
    rows.push_back({"redis", "sentinel_username", "a sentinel ACL user name", "(the default user)",
                    string_with(
                        [](Policy & p) -> auto& { return p.redis.sentinel_username; }, nonempty)});
    rows.push_back({"redis", "sentinel_password_file",
                    "the absolute path of a file (mode 0600 or stricter) holding the password",
                    "(no AUTH to the sentinels)",
                    [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        const auto* s = n.as_string();
                        if (s == nullptr) {
                            return "got " + type_name(n);
                        }
                        p.redis.sentinel_password_file = s->get();
                        return read_secret(p.redis.sentinel_password_file,
                                           p.redis.sentinel_password);
                    }});
    rows.push_back({"redis", "wait_replicas", "an integer from 0 to 16", "0 (no WAIT)",
                    integer_in(
                        [](Policy & p) -> auto& { return p.redis.wait_replicas; }, 0, 16)});
    rows.push_back({"redis", "wait_timeout", "a duration from \"1ms\" to \"10s\", e.g. \"100ms\"",
                    "\"100ms\"",
                    duration_in(
                        [](Policy & p) -> auto& { return p.redis.wait_timeout; }, 1ms, 10s)});
}

}  // namespace staffel::config
