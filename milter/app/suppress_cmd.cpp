// suppress_cmd.cpp - see suppress_cmd.hpp. The commands first, then their
// command line (SuppressCli); the help texts are in app/suppress_help.hpp.
#include "app/suppress_cmd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <ostream>
#include <system_error>
#include <utility>
#include <vector>

#include "adapters/idn/idna.hpp"
#include "adapters/openssl/dkim_keys.hpp"
#include "app/exit_codes.hpp"
#include "app/runtime.hpp"
#include "app/stats_writer.hpp"
#include "app/suppress_help.hpp"
#include "config/loader.hpp"
#include "core/suppress/csv.hpp"
#include "core/units.hpp"

namespace staffel::app {
namespace {

constexpr int kExitNotFound = 1;
constexpr std::size_t kImportBatch = 10000;  // rows per put_many()
constexpr std::size_t kReadChunk = std::size_t{1} << 16;

using core::SuppressionEntry;
using core::SuppressionKeys;

bool hashing(const SuppressContext& c) {
    return !c.policy.suppression.hash_secret.empty();
}

SuppressionKeys keys_of(const SuppressContext& c) {
    return {c.policy.redis.prefix, c.policy.suppression.hash_secret, c.sha};
}

// An address as given on the command line: normalised, or already hashed.
struct Target {
    std::string address;  // normalised address, or "h:HEX"
    bool hashed = false;
};

core::Result<Target> parse_target(const SuppressContext& c, const std::string& text) {
    if (core::looks_hashed(text)) {
        auto h = core::parse_hashed_address(text);
        if (!h) {
            return h.error();
        }
        if (!hashing(c)) {
            return core::make_error(
                "h:HEX addresses exist only when the policy hashes addresses "
                "([suppression] hash_secret_file)");
        }
        return Target{std::move(h).value(), true};
    }
    auto n = core::normalise_address(text, {c.policy.suppression.fold_local_part}, c.idna);
    if (!n) {
        return n.error();
    }
    return Target{std::move(n).value(), false};
}

// The ADDRESS part of a key: an h:HEX target is one already.
std::string address_part(const SuppressContext& c, const Target& t) {
    return t.hashed ? t.address : keys_of(c).address_part(t.address);
}

std::string entry_key(const SuppressContext& c, std::string_view scope, const Target& t) {
    // Without a secret, SuppressionKeys puts the address part in as given.
    return t.hashed ? SuppressionKeys(c.policy.redis.prefix).entry_key(scope, t.address)
                    : keys_of(c).entry_key(scope, t.address);
}

// A Redis glob matching `text` literally.
std::string glob_escape(std::string_view text) {
    std::string out;
    for (char ch : text) {
        if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') {
            out += '\\';
        }
        out += ch;
    }
    return out;
}

// The escaped "PREFIX s:" every entry pattern starts with.
std::string pattern_head(const SuppressContext& c) {
    auto p = keys_of(c).scan_pattern();  // ... "s:*"
    p.pop_back();
    return p;
}

core::Result<std::string> parse_scope(const SuppressContext& c, const std::string& text) {
    if (text.empty() || text == "*") {
        return std::string();
    }
    return core::normalise_domain(text, c.idna);
}

std::string join(const std::vector<std::string>& names, std::string_view sep) {
    std::string out;
    for (const auto& n : names) {
        out += out.empty() ? "" : sep;
        out += n;
    }
    return out;
}

std::string streams_text(const SuppressionEntry& e) {
    return e.streams.empty() ? "every stream" : "streams " + join(e.streams, ",");
}

std::string describe(const SuppressionEntry& e) {
    std::string s(core::reason_name(e.reason));
    s += ", " + streams_text(e);
    if (e.added_at > 0) {
        s += ", added " + core::format_rfc3339_utc(e.added_at);
    }
    s += e.expires_at > 0 ? ", expires " + core::format_rfc3339_utc(e.expires_at)
                          : ", never expires";
    if (!e.source.empty()) {
        s += ", source " + e.source;
    }
    return s;
}

std::string where(std::string_view scope) {
    return scope.empty() ? "global entry" : "entry for mail from " + std::string(scope);
}

int usage(const SuppressContext& c, const std::string& what, const std::string& why) {
    c.err << "staffelctl: " << what << ": " << why << '\n';
    return kExitUsage;
}

int store_error(const SuppressContext& c, const core::Error& e) {
    c.err << "staffelctl: " << e.message << '\n';
    return kExitUnavailable;
}

void note_disabled(const SuppressContext& c) {
    if (!c.policy.suppression.enabled) {
        c.err << "staffelctl: note: " << c.policy.path
              << " has no [suppression] table (or enabled = false): staffeld does not check "
                 "these entries\n";
    }
}

void note_hashed(const SuppressContext& c) {
    if (hashing(c)) {
        c.err << "staffelctl: addresses are stored hashed (HMAC-SHA-256 under [suppression] "
                 "hash_secret_file); the address column shows h:HEX\n";
    }
}

// --streams: "" = the reason's default, "*" = every stream, else names
// joined by ",".
core::Result<std::vector<std::string>> parse_streams(const SuppressContext& c,
                                                     const std::string& text,
                                                     core::SuppressReason reason) {
    std::string names = text;
    for (auto& ch : names) {
        ch = ch == ',' ? ';' : ch;
    }
    return core::parse_csv_streams(names, reason, c.policy.suppression.unsubscribe_streams);
}

}  // namespace

int run_suppress_add(const SuppressContext& c, const SuppressArgs& a) {
    auto target = parse_target(c, a.address);
    if (!target) {
        return usage(c, "ADDRESS", target.error().message);
    }
    const auto reason = core::parse_reason(a.reason);
    if (!reason) {
        return usage(c, "--reason",
                     "unknown reason \"" + a.reason +
                         "\"; expected hard_bounce, complaint, unsubscribe, "
                         "manual or invalid");
    }
    auto scope = parse_scope(c, a.scope);
    if (!scope) {
        return usage(c, "--scope", scope.error().message);
    }
    auto streams = parse_streams(c, a.streams, *reason);
    if (!streams) {
        return usage(c, "--streams", streams.error().message);
    }
    SuppressionEntry e;
    e.address = target->address;
    e.reason = *reason;
    e.scope = *scope;
    e.streams = std::move(streams).value();
    e.added_at = c.now;
    e.source = core::clean_source(a.source);
    if (!a.expires.empty()) {
        // The grammar of the CSV file's expires column.
        auto expires = core::parse_csv_expires(a.expires, c.now);
        if (!expires) {
            return usage(c, "--expires", expires.error().message);
        }
        e.expires_at = *expires;
    }
    note_disabled(c);
    auto replaced = c.store.put(entry_key(c, e.scope, *target), e);
    if (!replaced) {
        return store_error(c, replaced.error());
    }
    c.out << (*replaced ? "replaced the " : "added the ") << where(e.scope) << " of "
          << target->address << ": " << describe(e) << '\n';
    const char* kind = e.reason == core::SuppressReason::HardBounce    ? "bounce_hard"
                       : e.reason == core::SuppressReason::Complaint   ? "complaint"
                       : e.reason == core::SuppressReason::Unsubscribe ? "unsubscribe"
                                                                       : nullptr;
    if (kind != nullptr && c.ingested) {
        c.ingested({kind, e.scope, ""}, target->address);
    }
    return 0;
}

int run_suppress_remove(const SuppressContext& c, const SuppressArgs& a) {
    auto target = parse_target(c, a.address);
    if (!target) {
        return usage(c, "ADDRESS", target.error().message);
    }
    auto scope = parse_scope(c, a.scope);
    if (!scope) {
        return usage(c, "--scope", scope.error().message);
    }
    auto removed = c.store.remove(entry_key(c, *scope, *target));
    if (!removed) {
        return store_error(c, removed.error());
    }
    if (!*removed) {
        c.err << "staffelctl: there is no " << where(*scope) << " of " << target->address << '\n';
        return kExitNotFound;
    }
    c.out << "removed the " << where(*scope) << " of " << target->address << '\n';
    return 0;
}

namespace {

// What the entries that apply to one sender do to its mail.
std::string effect(const std::vector<const SuppressionEntry*>& entries) {
    for (const auto* e : entries) {
        if (e->blocks_every_stream()) {
            const auto reply = core::reply_for(e->reason);
            return "refused at RCPT with " + reply.rcode + " " + reply.xcode + " (" +
                   std::string(core::reason_name(e->reason)) + ", " + where(e->scope) + ")";
        }
    }
    if (entries.empty()) {
        return "delivered (no entry applies)";
    }
    std::vector<std::string> streams;
    for (const auto* e : entries) {
        for (const auto& s : e->streams) {
            if (std::find(streams.begin(), streams.end(), s) == streams.end()) {
                streams.push_back(s);
            }
        }
    }
    return "removed at end of message from mail of stream " + join(streams, ", ") +
           "; mail of other streams is delivered";
}

}  // namespace

int run_suppress_show(const SuppressContext& c, const SuppressArgs& a) {
    auto target = parse_target(c, a.address);
    if (!target) {
        return usage(c, "ADDRESS", target.error().message);
    }
    auto sender = parse_scope(c, a.sender_domain);
    if (!sender) {
        return usage(c, "--sender-domain", sender.error().message);
    }
    std::vector<std::string> keys{entry_key(c, {}, *target)};
    if (!sender->empty()) {
        keys.push_back(entry_key(c, *sender, *target));
    }
    auto found = c.store.lookup(keys);
    if (!found) {
        return store_error(c, found.error());
    }
    std::optional<SuppressionEntry> global = std::move(found.value()[0]);
    std::map<std::string, SuppressionEntry> scoped;  // by scope
    if (!sender->empty() && found.value()[1]) {
        scoped.emplace(*sender, std::move(*found.value()[1]));
    }
    std::size_t bad = 0;  // scoped values found by SCAN that do not decode
    if (sender->empty()) {
        // Every scoped entry of the address: a SCAN of the whole key space.
        const auto part = address_part(c, *target);
        const auto keys_c = keys_of(c);
        auto visited = c.store.scan(
            pattern_head(c) + "*:" + glob_escape(part),
            [&](std::string_view key, const core::Result<SuppressionEntry>& e) {
                auto k = keys_c.parse_key(key);
                if (!k || k->first.empty() || k->second != part) {
                    return;
                }
                if (!e) {
                    c.err << "staffelctl: " << key << ": " << e.error().message << '\n';
                    ++bad;
                    return;
                }
                scoped.emplace(k->first, *e);
            });
        if (!visited) {
            return store_error(c, visited.error());
        }
    }
    if (!global && scoped.empty()) {
        c.err << "staffelctl: " << target->address << " is not on the suppression list"
              << (sender->empty() ? "" : " for mail from " + *sender) << '\n';
        return bad > 0 ? kExitDataErr : kExitNotFound;
    }
    if (global) {
        global->scope.clear();
    }
    for (auto& [s, e] : scoped) {
        e.scope = s;
    }
    c.out << target->address << '\n';
    if (global) {
        c.out << "  " << where({}) << ": " << describe(*global) << '\n';
    }
    for (const auto& [s, e] : scoped) {
        c.out << "  " << where(s) << ": " << describe(e) << '\n';
    }
    c.out << "applies to\n";
    std::vector<const SuppressionEntry*> base;
    if (global) {
        base.push_back(&*global);
    }
    if (sender->empty()) {
        c.out << "  mail from " << (scoped.empty() ? "any sender" : "other senders") << ": "
              << effect(base) << '\n';
    }
    for (const auto& [s, e] : scoped) {
        auto with = base;
        with.push_back(&e);
        c.out << "  mail from " << s << ": " << effect(with) << '\n';
    }
    if (!sender->empty() && scoped.empty()) {
        c.out << "  mail from " << *sender << ": " << effect(base) << '\n';
    }
    note_disabled(c);
    return bad > 0 ? kExitDataErr : 0;
}

int run_suppress_list(const SuppressContext& c, const SuppressArgs& a) {
    std::optional<core::SuppressReason> reason;
    if (!a.reason.empty()) {
        reason = core::parse_reason(a.reason);
        if (!reason) {
            return usage(c, "--reason",
                         "unknown reason \"" + a.reason +
                             "\"; expected hard_bounce, complaint, unsubscribe, "
                             "manual or invalid");
        }
    }
    std::string pattern = keys_of(c).scan_pattern();
    if (a.global_only) {
        pattern = pattern_head(c) + "\\*:*";
    } else if (!a.scope.empty()) {
        auto scope = parse_scope(c, a.scope);
        if (!scope) {
            return usage(c, "--scope", scope.error().message);
        }
        pattern = pattern_head(c) + (scope->empty() ? "\\*" : glob_escape(*scope)) + ":*";
    }
    note_hashed(c);
    c.out << "ADDRESS\tSCOPE\tREASON\tSTREAMS\tADDED\tEXPIRES\tSOURCE\n";
    const auto keys = keys_of(c);
    std::size_t bad = 0;
    auto visited =
        c.store.scan(pattern, [&](std::string_view key, const core::Result<SuppressionEntry>& e) {
            auto k = keys.parse_key(key);
            if (!k) {
                return;
            }
            if (!e) {
                c.err << "staffelctl: " << key << ": " << e.error().message << '\n';
                ++bad;
                return;
            }
            if (reason && e->reason != *reason) {
                return;
            }
            c.out << k->second << '\t' << (k->first.empty() ? "*" : k->first) << '\t'
                  << core::reason_name(e->reason) << '\t'
                  << (e->streams.empty() ? "*" : join(e->streams, ",")) << '\t'
                  << core::format_rfc3339_utc(e->added_at) << '\t'
                  << (e->expires_at > 0 ? core::format_rfc3339_utc(e->expires_at) : "never") << '\t'
                  << e->source << '\n';
        });
    c.out.flush();
    if (!visited) {
        return store_error(c, visited.error());
    }
    if (bad > 0) {
        c.err << "staffelctl: " << bad << " stored values do not decode (listed above)\n";
        return kExitDataErr;
    }
    return 0;
}

namespace {

// One import: rows in, batches to the store.
class Importer {
  public:
    Importer(const SuppressContext& c, std::string file) : c_(c), file_(std::move(file)) {
        batch_.reserve(kImportBatch);
    }

    // 0, or the exit status that ends the import.
    int take(const core::SuppressCsvRecord& r) {
        if (!r.row) {
            c_.err << file_ << ':' << r.error_text() << '\n';
            if (r.header) {
                c_.err << "staffelctl: nothing imported: the first line of " << file_
                       << " must be the header line " << core::kSuppressCsvHeader << " (or "
                       << core::kSuppressCsvHeaderNoAdded << ")\n";
                return kExitDataErr;
            }
            ++refused_;
            return 0;
        }
        if (r.header) {
            return 0;
        }
        const auto& row = *r.row;
        core::KeyedEntry k;
        k.key = entry_key(c_, row.scope, Target{row.address, row.hashed});
        k.entry.address = row.address;
        k.entry.reason = row.reason;
        k.entry.scope = row.scope;
        k.entry.streams = row.streams;
        k.entry.added_at = row.added_at > 0 ? row.added_at : c_.now;
        k.entry.expires_at = row.expires_at;
        k.entry.source = row.source.empty()
                             ? core::clean_source("import:" + file_ + ":" + std::to_string(r.line))
                             : row.source;
        if (batch_.empty()) {
            first_line_ = r.line;
        }
        last_line_ = r.line;
        batch_.push_back(std::move(k));
        return batch_.size() >= kImportBatch ? flush() : 0;
    }

    int flush() {
        if (batch_.empty()) {
            return 0;
        }
        auto written = c_.store.put_many(batch_);
        if (!written) {
            c_.err << "staffelctl: " << written.error().message << '\n';
            summary();
            c_.err << "staffelctl: the import stopped at line " << first_line_ << " of " << file_
                   << "; rows before it are stored, rows from it on are not all stored\n";
            return kExitUnavailable;
        }
        if (*written < batch_.size()) {
            const auto lost = batch_.size() - *written;
            c_.err << file_ << ':' << first_line_ << '-' << last_line_ << ": Redis refused " << lost
                   << " of these " << batch_.size() << " rows\n";
            refused_ += lost;
        }
        imported_ += *written;
        batch_.clear();
        return 0;
    }

    void summary() const {
        c_.out << "imported " << imported_ << " entries, " << refused_ << " rows refused\n";
        c_.out.flush();
    }
    [[nodiscard]] std::size_t refused() const { return refused_; }

  private:
    const SuppressContext& c_;
    std::string file_;
    std::vector<core::KeyedEntry> batch_;
    std::size_t first_line_ = 0;
    std::size_t last_line_ = 0;
    std::size_t imported_ = 0;
    std::size_t refused_ = 0;
};

}  // namespace

int run_suppress_import(const SuppressContext& c, const SuppressArgs& a, std::istream& in) {
    const std::string name = a.file == "-" ? "stdin" : a.file;
    core::SuppressCsvOptions options;
    options.rules.fold_local_part = c.policy.suppression.fold_local_part;
    options.idna = c.idna;
    options.unsubscribe_streams = c.policy.suppression.unsubscribe_streams;
    options.accept_hashed = hashing(c);
    options.now = c.now;
    core::SuppressCsvReader reader(std::move(options));
    Importer importer(c, name);
    note_disabled(c);
    std::vector<char> buf(kReadChunk);
    bool more = true;
    while (more) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto got = static_cast<std::size_t>(in.gcount());
        if (in.bad()) {
            c.err << "staffelctl: cannot read " << name << '\n';
            importer.summary();
            return kExitNoInput;
        }
        if (got > 0) {
            reader.feed({buf.data(), got});
        }
        if (!in) {
            reader.finish();
            more = false;
        }
        while (auto r = reader.next()) {
            if (const int rc = importer.take(*r); rc != 0) {
                return rc;
            }
        }
    }
    if (const int rc = importer.flush(); rc != 0) {
        return rc;
    }
    importer.summary();
    return importer.refused() == 0 ? 0 : kExitDataErr;
}

int run_suppress_export(const SuppressContext& c, const SuppressArgs& a, std::ostream& csv) {
    (void)a;
    note_hashed(c);
    csv << core::suppress_csv_header_line();
    const auto keys = keys_of(c);
    std::size_t bad = 0;
    auto visited = c.store.scan(
        keys.scan_pattern(), [&](std::string_view key, const core::Result<SuppressionEntry>& e) {
            auto k = keys.parse_key(key);
            if (!k) {
                return;
            }
            if (!e) {
                c.err << "staffelctl: " << key << ": " << e.error().message << " (not exported)\n";
                ++bad;
                return;
            }
            SuppressionEntry entry = *e;
            entry.scope = k->first;
            entry.address = k->second;
            csv << core::format_suppress_csv_row(entry);
        });
    csv.flush();
    if (!visited) {
        return store_error(c, visited.error());
    }
    if (!csv) {
        c.err << "staffelctl: writing the export failed\n";
        return kExitIoErr;
    }
    c.err << "staffelctl: exported " << (*visited - bad) << " entries\n";
    if (bad > 0) {
        c.err << "staffelctl: " << bad << " stored values do not decode and were not exported\n";
        return kExitDataErr;
    }
    return 0;
}

// ---------------------------------------------------------------- command line

namespace {

// Writes the export to `file` through a temporary file renamed at the end.
int export_to_file(const SuppressContext& c, const SuppressArgs& a) {
    const std::string tmp = a.file + ".tmp" + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        c.err << "staffelctl: cannot create " << tmp << ": "
              << std::generic_category().message(errno) << '\n';
        return kExitCantCreat;
    }
    ::close(fd);
    int rc = 0;
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) {
            c.err << "staffelctl: cannot write " << tmp << '\n';
            ::unlink(tmp.c_str());
            return kExitCantCreat;
        }
        rc = run_suppress_export(c, a, f);
        f.close();
        if (rc == 0 && !f) {
            c.err << "staffelctl: writing " << tmp << " failed\n";
            rc = kExitIoErr;
        }
    }
    if ((rc == 0 || rc == kExitDataErr) && std::rename(tmp.c_str(), a.file.c_str()) != 0) {
        c.err << "staffelctl: cannot rename " << tmp << " to " << a.file << ": "
              << std::generic_category().message(errno) << '\n';
        rc = kExitCantCreat;
    }
    if (rc != 0 && rc != kExitDataErr) {
        ::unlink(tmp.c_str());
    }
    return rc;
}

}  // namespace

void SuppressCli::add(CLI::App& app, ManPage man_page) {
    using namespace suppress_help;  // NOLINT(google-build-using-namespace)
    auto* group = app.add_subcommand("suppress", "manage the suppression list");
    group->require_subcommand(1);
    man_page(group, kGroupSynopsis, kGroupDescription, kGroupFooter);
    auto sub = [&](Command command, const char* name, const char* what, const char* synopsis,
                   const char* description, std::string footer) {
        auto* s = group->add_subcommand(name, what);
        man_page(s, synopsis, description, std::move(footer));
        subs_.push_back({command, s});
        return s;
    };
    auto address = [&](CLI::App* s) {
        s->add_option("ADDRESS", args_.address,
                      "The address, e.g. bob@example.org (or h:HEX when\naddresses are hashed)")
            ->required()
            ->type_name("ADDRESS");
    };

    auto* add =
        sub(Command::Add, "add", "add or replace the entry of an address",
            "staffelctl [-c POLICY] suppress add ADDRESS --reason REASON [--scope DOMAIN]\n"
            "                       [--streams LIST] [--expires DURATION|TIME] [--source TEXT]",
            kAddDescription, kAddFooter);
    address(add);
    add->add_option("-r,--reason", args_.reason, kReasonHelp)->required()->type_name("REASON");
    add->add_option("--scope", args_.scope,
                    "Only for mail from this sender domain\n(default: every sender)")
        ->type_name("DOMAIN");
    add->add_option("--streams", args_.streams,
                    "Stream names joined by \",\", or \"*\" for every\nstream (default: the "
                    "reason's)")
        ->type_name("LIST");
    add->add_option("--expires", args_.expires,
                    "Expire after DURATION (e.g. 30d, 12h, 90m) or at\nTIME (RFC 3339, e.g. "
                    "2027-01-31T00:00:00Z,\nor epoch seconds), as the CSV expires column\n"
                    "(default, or 0: never)")
        ->type_name("DURATION|TIME");
    add->add_option("--source", args_.source, "Where the entry comes from")
        ->capture_default_str()
        ->type_name("TEXT");

    auto* remove = sub(Command::Remove, "remove", "remove the entry of an address",
                       "staffelctl [-c POLICY] suppress remove ADDRESS [--scope DOMAIN]",
                       kRemoveDescription, kRemoveFooter);
    address(remove);
    remove
        ->add_option("--scope", args_.scope,
                     "The entry for mail from DOMAIN\n(default: the global one)")
        ->type_name("DOMAIN");

    auto* show = sub(Command::Show, "show", "print an address's entries and their effect",
                     "staffelctl [-c POLICY] suppress show ADDRESS [--sender-domain DOMAIN]",
                     kShowDescription, kShowFooter);
    address(show);
    show->add_option("--sender-domain", args_.sender_domain,
                     "Only what applies to mail from DOMAIN")
        ->type_name("DOMAIN");

    auto* list = sub(Command::List, "list", "print every entry, tab-separated",
                     "staffelctl [-c POLICY] suppress list [--reason REASON]\n"
                     "                       [--scope DOMAIN | --global]",
                     kListDescription, kListFooter);
    list->add_option("-r,--reason", args_.reason,
                     "Only entries of this reason:\n" + std::string(kReasonHelp))
        ->type_name("REASON");
    auto* scope = list->add_option("--scope", args_.scope, "Only entries for mail from DOMAIN")
                      ->type_name("DOMAIN");
    list->add_flag("--global", args_.global_only, "Only global entries")->excludes(scope);

    auto* import = sub(Command::Import, "import", "import entries from a CSV file",
                       "staffelctl [-c POLICY] suppress import FILE|-", kImportDescription,
                       std::string(kCsvFormat) + kImportFooter);
    import->add_option("FILE", args_.file, "The CSV file; \"-\" reads standard input")
        ->required()
        ->type_name("FILE");

    auto* exp = sub(Command::Export, "export", "export every entry as CSV",
                    "staffelctl [-c POLICY] suppress export [FILE|-]", kExportDescription,
                    std::string(kCsvFormat) + kExportFooter);
    exp->add_option("FILE", args_.file, "Write here; \"-\" (the default) is standard output")
        ->type_name("FILE");
}

bool SuppressCli::parsed() const {
    return std::any_of(subs_.begin(), subs_.end(), [](const Sub& s) { return s.app->parsed(); });
}

int SuppressCli::run(const std::string& policy_path) {
    // No DKIM keys: these commands need none.
    auto loaded = config::load_policy(policy_path, {});
    if (!loaded.policy) {
        for (const auto& e : loaded.errors) {
            std::cerr << e.to_string() << '\n';
        }
        return kExitConfig;
    }
    const auto& policy = *loaded.policy;
    auto store = make_suppression_store(policy.redis);
    const auto now = static_cast<std::int64_t>(::time(nullptr));
    OneShotStats stats(policy);
    const SuppressContext c{policy,
                            *store,
                            &adapters::sha256_factory(),
                            adapters::domain_to_ascii,
                            now,
                            std::cout,
                            std::cerr,
                            [&](const core::stats::Ingested& what, std::string_view address) {
                                stats.ingested(what, address, now);
                            }};
    const auto it =
        std::find_if(subs_.begin(), subs_.end(), [](const Sub& s) { return s.app->parsed(); });
    if (it == subs_.end()) {
        std::cerr << "staffelctl: no suppress command given; see staffelctl suppress --help\n";
        return kExitUsage;
    }
    switch (it->command) {
        case Command::Add: {
            const int status = run_suppress_add(c, args_);
            stats.write(std::cerr);
            return status;
        }
        case Command::Remove:
            return run_suppress_remove(c, args_);
        case Command::Show:
            return run_suppress_show(c, args_);
        case Command::List:
            return run_suppress_list(c, args_);
        case Command::Import: {
            if (args_.file == "-") {
                return run_suppress_import(c, args_, std::cin);
            }
            std::ifstream f(args_.file, std::ios::binary);
            if (!f) {
                std::cerr << "staffelctl: cannot read " << args_.file << ": "
                          << std::generic_category().message(errno) << '\n';
                return kExitNoInput;
            }
            return run_suppress_import(c, args_, f);
        }
        case Command::Export:
            return args_.file == "-" ? run_suppress_export(c, args_, std::cout)
                                     : export_to_file(c, args_);
    }
    return kExitUsage;
}
}  // namespace staffel::app
