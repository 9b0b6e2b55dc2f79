// dkim_cmd.cpp - see dkim_cmd.hpp.
#include "app/dkim_cmd.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "adapters/openssl/dkim_keys.hpp"
#include "app/dns_txt.hpp"
#include "app/exit_codes.hpp"
#include "app/runtime.hpp"
#include "config/loader.hpp"
#include "core/dkim/dns_record.hpp"
#include "core/dkim/table.hpp"
#include "core/rfc3339.hpp"
#include "core/text.hpp"
#include "core/units.hpp"

namespace staffel::app {
namespace {

namespace fs = std::filesystem;

constexpr int kExitMismatch = 1;
constexpr std::size_t kMaxRecordFileBytes = std::size_t{4} * 1024 * 1024;
constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDefaultLead = 48 * kHour;

std::string toml_string(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

int fail(std::ostream& err, int code, const std::string& message) {
    err << "staffelctl: " << message << '\n';
    return code;
}

// "2d 3h", "5h 10m", "45m", "30s": how far off a time is, for people.
std::string human_span(std::int64_t seconds) {
    if (seconds < 60) {
        return std::to_string(seconds) + "s";
    }
    const auto d = seconds / 86400;
    const auto h = seconds % 86400 / kHour;
    const auto m = seconds % kHour / 60;
    if (d > 0) {
        return std::to_string(d) + "d" + (h > 0 ? " " + std::to_string(h) + "h" : "");
    }
    return h > 0 ? std::to_string(h) + "h" + (m > 0 ? " " + std::to_string(m) + "m" : "")
                 : std::to_string(m) + "m";
}

// ---------------------------------------------------------------- keygen

struct NewKey {
    std::string domain;
    std::string selector;
    core::DkimAlgorithm algorithm = core::DkimAlgorithm::RsaSha256;
    int bits = 2048;
    std::string dir;
};

// Generates the key, writes DIR/DOMAIN.SELECTOR.pem (0600, never over an
// existing file) and prints its record on `out`. `path` gets the file's
// absolute path. The exit status: 0, 64, 70 or 73.
int write_new_key(const NewKey& k, std::ostream& out, std::ostream& err, std::string& path_out) {
    const auto name = core::dkim_record_name(k.selector, k.domain);
    if (name.size() > 253) {
        return fail(err, kExitUsage, name + " is longer than 253 bytes");
    }
    const fs::path path = fs::path(k.dir) / (k.domain + "." + k.selector + ".pem");
    std::error_code ec;
    if (!fs::is_directory(k.dir, ec)) {
        return fail(err, kExitCantCreat,
                    "cannot write " + path.string() + ": " + k.dir + " is not a directory");
    }
    if (fs::exists(fs::symlink_status(path, ec))) {
        return fail(err, kExitCantCreat, "refusing to overwrite " + path.string() + ": it exists");
    }
    auto key = adapters::generate_key(k.algorithm, k.bits);
    if (!key) {
        return fail(err, kExitSoftware, key.error().message);
    }
    const auto p = adapters::public_key_dns_base64(**key);
    if (p.empty()) {
        return fail(err, kExitSoftware, "cannot encode the public key");
    }
    if (auto w = adapters::write_private_key_file(**key, path.string()); !w) {
        return fail(err, kExitCantCreat, w.error().message);
    }
    out << core::format_zone_txt(name, core::dkim_key_record_strings(k.algorithm, p)) << std::flush;
    const auto absolute = fs::absolute(path, ec).lexically_normal().string();
    path_out = absolute.empty() ? path.string() : absolute;
    const bool rsa = k.algorithm == core::DkimAlgorithm::RsaSha256;
    err << "staffelctl: wrote the " << core::to_string(k.algorithm) << " private key"
        << (rsa ? " (" + std::to_string(k.bits) + " bits)" : std::string()) << " to "
        << path.string() << " (mode 0600).\n";
    return 0;
}

std::string key_entry(const NewKey& k, const std::string& path) {
    return "[[dkim.keys]]\ndomain = " + toml_string(k.domain) +
           "\nselector = " + toml_string(k.selector) +
           "\nalgorithm = " + toml_string(std::string(core::to_string(k.algorithm))) +
           "\nkey = " + toml_string(path) + "\n";
}

// ---------------------------------------------------------------- rotate

// The keys of `domain` (exact) with `algorithm`.
std::vector<const core::DkimKeySpec*> keys_of(const core::DkimSettings& dkim,
                                              const std::string& domain,
                                              core::DkimAlgorithm algorithm) {
    std::vector<const core::DkimKeySpec*> out;
    for (const auto& k : dkim.keys) {
        if (k.domain == domain && k.algorithm == algorithm) {
            out.push_back(&k);
        }
    }
    return out;
}

// The key being replaced: the one that signs now, else the one with the
// latest not_before (a rotation already pending).
const core::DkimKeySpec* current_key(const core::DkimSettings& dkim,
                                     const std::vector<const core::DkimKeySpec*>& keys,
                                     std::int64_t now) {
    for (const auto* k : keys) {
        if (core::dkim_key_status(dkim, *k, now).signs) {
            return k;
        }
    }
    const core::DkimKeySpec* latest = keys.front();
    for (const auto* k : keys) {
        if (k->not_before.value_or(std::numeric_limits<std::int64_t>::min()) >
            latest->not_before.value_or(std::numeric_limits<std::int64_t>::min())) {
            latest = k;
        }
    }
    return latest;
}

// The rule of `dkim rotate --help`: the current selector's leading
// non-digits ("s" when none), the year and month of not_before, then "b",
// "c", ... while that name is taken. Empty when all are.
std::string next_selector(const std::string& current, std::int64_t not_before,
                          const std::function<bool(const std::string&)>& taken) {
    std::string prefix = current.substr(0, current.find_first_of("0123456789"));
    if (prefix.empty()) {
        prefix = "s";
    }
    const auto when = core::format_rfc3339_utc(not_before);  // YYYY-MM-...
    const std::string base = prefix + when.substr(0, 4) + when.substr(5, 2);
    if (!taken(base)) {
        return base;
    }
    for (char c = 'b'; c <= 'z'; ++c) {
        if (!taken(base + c)) {
            return base + c;
        }
    }
    return {};
}

// --not-before: an RFC 3339 time or a duration from now; empty: now + 48h,
// rounded up to the hour.
core::Result<std::int64_t> rotation_time(const std::string& text, std::int64_t now) {
    if (text.empty()) {
        return (now + kDefaultLead + kHour - 1) / kHour * kHour;
    }
    if (auto t = core::parse_rfc3339(text)) {
        return *t;
    }
    if (auto d = core::parse_duration(text)) {
        return now + std::chrono::duration_cast<std::chrono::seconds>(*d).count();
    }
    return core::make_error(
        "expected an RFC 3339 time such as 2026-07-01T00:00:00Z or a "
        "duration from now such as \"48h\", got \"" +
        text + "\"");
}

}  // namespace

int dkim_keygen(const DkimOptions& opt, std::ostream& out, std::ostream& err) {
    auto domain = core::check_dkim_domain(opt.domain);
    if (!domain) {
        return fail(err, kExitUsage, "--domain: " + domain.error().message);
    }
    auto selector = core::check_dkim_selector(opt.selector);
    if (!selector) {
        return fail(err, kExitUsage, "--selector: " + selector.error().message);
    }
    const auto algorithm = core::parse_dkim_algorithm(opt.algorithm);
    if (!algorithm) {
        return fail(err, kExitUsage, "--algorithm: " + algorithm.error().message);
    }
    if (*algorithm == core::DkimAlgorithm::Ed25519Sha256 && opt.bits_given) {
        return fail(err, kExitUsage, "--bits applies to rsa-sha256 keys only");
    }
    const NewKey k{*domain, *selector, *algorithm, opt.bits, opt.out_dir};
    std::string path;
    if (const int rc = write_new_key(k, out, err, path); rc != 0) {
        return rc;
    }
    err << "Publish the TXT record above at " << core::dkim_record_name(k.selector, k.domain)
        << ", add this entry to the policy,\n"
        << "then run \"staffelctl dkim check\" and reload staffeld:\n\n"
        << key_entry(k, path);
    return 0;
}

int dkim_rotate(const std::string& config, const DkimOptions& opt, std::int64_t now,
                std::ostream& out, std::ostream& err) {
    auto domain = core::check_dkim_domain(opt.domain);
    if (!domain) {
        return fail(err, kExitUsage, "--domain: " + domain.error().message);
    }
    std::optional<core::DkimAlgorithm> algorithm;
    if (opt.algorithm_given) {
        auto a = core::parse_dkim_algorithm(opt.algorithm);
        if (!a) {
            return fail(err, kExitUsage, "--algorithm: " + a.error().message);
        }
        algorithm = *a;
    }
    const auto when = rotation_time(opt.not_before, now);
    if (!when) {
        return fail(err, kExitUsage, "--not-before: " + when.error().message);
    }
    if (*when <= now) {
        return fail(err, kExitUsage,
                    "--not-before: " + core::format_rfc3339_utc(*when) +
                        " is not in the future; the new record needs time to reach resolvers");
    }
    // The key files are not read: only their paths and times matter here.
    const auto loaded = load_policy_or_report(config, {}, err);
    if (!loaded) {
        return kExitConfig;
    }
    const auto& dkim = loaded->dkim;
    std::vector<core::DkimAlgorithm> algorithms;
    for (const auto& k : dkim.keys) {
        if (k.domain == *domain &&
            std::find(algorithms.begin(), algorithms.end(), k.algorithm) == algorithms.end()) {
            algorithms.push_back(k.algorithm);
        }
    }
    if (algorithms.empty()) {
        return fail(err, kExitUsage,
                    config + " declares no [[dkim.keys]] for " + *domain +
                        "; make its first key with \"staffelctl dkim keygen\"");
    }
    if (!algorithm) {
        if (algorithms.size() > 1) {
            return fail(err, kExitUsage,
                        *domain +
                            " has rsa-sha256 and ed25519-sha256 keys; say which to rotate "
                            "with --algorithm");
        }
        algorithm = algorithms.front();
    }
    const auto keys = keys_of(dkim, *domain, *algorithm);
    if (keys.empty()) {
        return fail(err, kExitUsage,
                    config + " declares no " + std::string(core::to_string(*algorithm)) +
                        " key for " + *domain + "; make one with \"staffelctl dkim keygen\"");
    }
    if (*algorithm == core::DkimAlgorithm::Ed25519Sha256 && opt.bits_given) {
        return fail(err, kExitUsage, "--bits applies to rsa-sha256 keys only");
    }
    const auto* current = current_key(dkim, keys, now);
    if (current->not_before && *when <= *current->not_before) {
        return fail(err, kExitUsage,
                    "--not-before: " + core::format_rfc3339_utc(*when) +
                        " is not later than the not_before of " + current->selector + " (" +
                        core::format_rfc3339_utc(*current->not_before) + ")");
    }
    NewKey k{
        *domain, "", *algorithm, opt.bits,
        opt.out_dir.empty() ? fs::path(current->key_path).parent_path().string() : opt.out_dir};
    const auto declared = [&](const std::string& s) -> const core::DkimKeySpec* {
        for (const auto& other : dkim.keys) {
            if (other.domain == *domain && other.selector == s) {
                return &other;
            }
        }
        return nullptr;
    };
    if (!opt.selector.empty()) {
        auto s = core::check_dkim_selector(opt.selector);
        if (!s) {
            return fail(err, kExitUsage, "--selector: " + s.error().message);
        }
        if (const auto* other = declared(*s)) {
            return fail(
                err, kExitUsage,
                "--selector: " + *s + " of " + *domain + " is already declared at " + other->where);
        }
        k.selector = *s;
    } else {
        k.selector = next_selector(current->selector, *when, [&](const std::string& s) {
            std::error_code ec;
            return declared(s) != nullptr ||
                   fs::exists(
                       fs::symlink_status(fs::path(k.dir) / (*domain + "." + s + ".pem"), ec));
        });
        if (k.selector.empty()) {
            return fail(err, kExitUsage,
                        "no free selector for this month; name one with --selector");
        }
    }
    std::string path;
    if (const int rc = write_new_key(k, out, err, path); rc != 0) {
        return rc;
    }
    const auto t = core::format_rfc3339_utc(*when);
    err << "Publish the TXT record above at " << core::dkim_record_name(k.selector, k.domain)
        << " now, add this entry to the policy\n"
        << "and reload staffeld; \"staffelctl dkim check\" warns until the record is "
           "published:\n\n"
        << key_entry(k, path) << "not_before = " << t << "\n\n";
    if (dkim.overlap == core::DkimOverlap::Newest) {
        err << current->selector << " (declared at " << current->where << ") keeps signing until "
            << t << ",\nwhen " << k.selector
            << " takes over by itself ([dkim] overlap = \"newest\").";
    } else {
        err << "From " << t << " both " << current->selector << " (declared at " << current->where
            << ") and " << k.selector << "\nsign ([dkim] overlap = \"all\"): end "
            << current->selector << " with not_after in its entry.";
    }
    err << " Keep the record of " << current->selector
        << "\npublished for a few days after, for mail in flight, then remove its entry.\n";
    return 0;
}

// ---------------------------------------------------------------- check

namespace {

// Where `dkim check` finds the TXT records of a name.
class RecordSource {
  public:
    virtual ~RecordSource() = default;
    virtual TxtAnswer find(const std::string& name) = 0;
};

class FileRecords : public RecordSource {
  public:
    FileRecords(std::string file, std::vector<core::ZoneTxtRecord> records)
        : file_(std::move(file)), records_(std::move(records)) {}

    TxtAnswer find(const std::string& name) override {
        TxtAnswer answer;
        for (const auto& r : records_) {
            if (r.name == name) {
                answer.records.push_back(r.text);
            }
        }
        answer.status =
            answer.records.empty() ? TxtAnswer::Status::NotFound : TxtAnswer::Status::Found;
        if (answer.records.empty()) {
            answer.error = "not in " + file_;
        }
        return answer;
    }

  private:
    std::string file_;
    std::vector<core::ZoneTxtRecord> records_;
};

class DnsRecords : public RecordSource {
  public:
    explicit DnsRecords(std::unique_ptr<TxtResolver> resolver) : resolver_(std::move(resolver)) {}
    TxtAnswer find(const std::string& name) override { return resolver_->lookup(name); }

  private:
    std::unique_ptr<TxtResolver> resolver_;
};

// The record file's text; "-" is standard input. Exit code 0, or why not.
int read_record_file(const std::string& file, std::string& text, std::ostream& err) {
    std::ifstream f;
    std::istream* in = &std::cin;
    if (file != "-") {
        f.open(file, std::ios::binary);
        if (!f) {
            return fail(err, kExitNoInput,
                        "cannot read " + file + ": " + std::generic_category().message(errno));
        }
        in = &f;
    }
    text.assign(std::istreambuf_iterator<char>(*in), std::istreambuf_iterator<char>());
    if (in->bad()) {
        return fail(err, kExitNoInput, "cannot read " + file);
    }
    if (text.size() > kMaxRecordFileBytes) {
        return fail(err, kExitDataErr, file + " is larger than 4 MiB; that is no record file");
    }
    return 0;
}

int open_source(const DkimOptions& opt, std::unique_ptr<RecordSource>& source, std::ostream& err) {
    if (!opt.record_file.empty()) {
        std::string text;
        if (const int rc = read_record_file(opt.record_file, text, err); rc != 0) {
            return rc;
        }
        auto records = core::parse_zone_txt(text);
        if (!records) {
            err << opt.record_file << ": error: " << records.error().message << '\n';
            return kExitDataErr;
        }
        source = std::make_unique<FileRecords>(opt.record_file, std::move(records).value());
        return 0;
    }
    auto resolver = TxtResolver::open(opt.nameserver);
    if (!resolver) {
        return fail(err, kExitUnavailable, resolver.error().message);
    }
    source = std::make_unique<DnsRecords>(std::move(resolver).value());
    return 0;
}

enum class Severity { Ok, Warn, Fail };

struct KeyReport {
    Severity severity = Severity::Ok;
    std::string text;
};

// One key's line after "DOMAIN SELECTOR ALGORITHM: ", by the table of
// `dkim check --help`.
KeyReport judge(const core::DkimSettings& dkim, const core::DkimKeySpec& k, const TxtAnswer& answer,
                std::int64_t now) {
    const bool pending = k.not_before && now < *k.not_before;
    const bool retired = k.not_after && now >= *k.not_after;
    const bool timed = k.not_before || k.not_after;
    std::string when;
    if (pending) {
        when = "starts signing at " + core::format_rfc3339_utc(*k.not_before) + " (in " +
               human_span(*k.not_before - now) + ")";
    } else if (retired) {
        when = "retired since " + core::format_rfc3339_utc(*k.not_after);
    } else if (timed || !core::dkim_key_status(dkim, k, now).signs) {
        when = core::dkim_key_status(dkim, k, now).why;
    }
    const auto with_when = [&](std::string text) {
        return when.empty() ? text : text + "; " + when;
    };
    if (answer.status == TxtAnswer::Status::Failed) {
        return {Severity::Fail, with_when("lookup failed: " + answer.error)};
    }
    const bool found = answer.status == TxtAnswer::Status::Found;
    if (!k.key) {
        if (found) {
            return {Severity::Warn,
                    with_when("WARNING: published, but the private key " + k.key_path +
                              " is missing (staffeld refuses the policy until it is back or "
                              "the entry is removed)")};
        }
        if (retired) {
            return {Severity::Ok,
                    with_when("no record found and no private key: remove the entry")};
        }
        return {pending ? Severity::Warn : Severity::Fail,
                with_when(std::string(pending ? "WARNING: " : "") + "no record found (" +
                          answer.error + ") and the private key " + k.key_path + " is missing")};
    }
    if (!found) {
        if (retired) {
            return {Severity::Ok, with_when("no record found (" + answer.error + ")")};
        }
        if (pending) {
            return {Severity::Warn, "WARNING: no record found (" + answer.error + "); " + when +
                                        ": publish it now"};
        }
        return {Severity::Fail, with_when("no record found (" + answer.error + ")")};
    }
    const auto expected = adapters::public_key_dns_base64(*k.key);
    const auto verdict = core::check_dkim_key_records(answer.records, k.algorithm, expected);
    if (verdict.match == core::KeyRecordMatch::Match) {
        return {Severity::Ok, with_when(verdict.to_string())};
    }
    return {retired ? Severity::Ok : Severity::Fail, with_when(verdict.to_string())};
}

// Loads keys as staffeld does, except that a key file that does not exist
// leaves the key unloaded (null) for `judge` to report.
config::KeyLoader tolerant_key_loader() {
    return
        [](const std::string& path,
           core::DkimAlgorithm declared) -> core::Result<std::shared_ptr<const core::SigningKey>> {
            std::error_code ec;
            if (fs::symlink_status(path, ec).type() == fs::file_type::not_found) {
                return std::shared_ptr<const core::SigningKey>();
            }
            return adapters::load_signing_key(path, declared);
        };
}

}  // namespace

int dkim_check(const std::string& config, const DkimOptions& opt, std::int64_t now,
               std::ostream& out, std::ostream& err) {
    const auto loaded = load_policy_or_report(config, tolerant_key_loader(), err);
    if (!loaded) {
        return kExitConfig;
    }
    const auto& keys = loaded->dkim.keys;
    if (keys.empty()) {
        err << "staffelctl: " << config << " declares no [[dkim.keys]]; nothing to check\n";
        return 0;
    }
    std::unique_ptr<RecordSource> source;
    if (const int rc = open_source(opt, source, err); rc != 0) {
        return rc;
    }
    std::size_t failed_lookups = 0;
    bool failed = false;
    bool warned = false;
    for (const auto& k : keys) {
        const auto name = core::dkim_record_name(k.selector, k.domain);
        out << k.domain << ' ' << k.selector << ' ' << core::to_string(k.algorithm) << ": ";
        const auto answer = source->find(name);
        if (answer.status == TxtAnswer::Status::Failed) {
            ++failed_lookups;
        }
        const auto report = judge(loaded->dkim, k, answer, now);
        failed = failed || report.severity == Severity::Fail;
        warned = warned || report.severity == Severity::Warn;
        out << report.text << '\n';
    }
    out << std::flush;
    if (failed_lookups == keys.size()) {
        return kExitUnavailable;
    }
    return failed ? kExitMismatch : warned ? kExitCheckWarning : 0;
}

}  // namespace staffel::app
