// ingest_cmd.cpp - see ingest_cmd.hpp.
#include "app/ingest_cmd.hpp"

#include <ostream>
#include <span>
#include <vector>

#include "adapters/gmime/bounce_report.hpp"
#include "app/exit_codes.hpp"
#include "app/stats_writer.hpp"
#include "core/suppress/csv.hpp"
#include "core/suppress/dsn_status.hpp"

namespace staffel::app {
namespace {

// One address to record and why.
struct Verdict {
    std::string address;  // as reported
    enum class Kind { Hard, Soft, Complaint, Ignore } kind = Kind::Ignore;
    std::string detail;  // status, action or feedback type, for the output line
};

std::string source_of(const adapters::BounceReport& r, std::string_view what) {
    std::string s(what);
    if (!r.reporting_mta.empty()) {
        s += ":" + r.reporting_mta;
    }
    return core::clean_source(s);
}

// A failed or delayed recipient, by [suppression] dsn_status. A delay is
// never worse than a soft bounce: the MTA is still trying.
Verdict judge_dsn(const adapters::BounceRecipient& r,
                  const std::vector<core::DsnStatusRule>& dsn_status) {
    Verdict v{r.address, Verdict::Kind::Ignore, "action " + r.action};
    if (r.action != "failed" && r.action != "delayed") {
        return v;
    }
    if (r.status.empty()) {  // only a delay may lack one
        v.kind = Verdict::Kind::Soft;
        v.detail = "action delayed, no status";
        return v;
    }
    const auto c = core::classify_dsn_status(dsn_status, r.status);
    v.detail = "status " + r.status +
               (c.pattern.empty() ? std::string(", no dsn_status pattern")
                                  : ", dsn_status \"" + c.pattern + "\"");
    switch (c.verdict) {
        case core::DsnVerdict::HardBounce:
            v.kind = r.action == "delayed" ? Verdict::Kind::Soft : Verdict::Kind::Hard;
            break;
        case core::DsnVerdict::SoftBounce:
            v.kind = Verdict::Kind::Soft;
            break;
        case core::DsnVerdict::Ignore:
            v.detail += c.pattern.empty() ? "" : " = ignore";
            break;
    }
    return v;
}

std::vector<Verdict> judge(const adapters::BounceReport& report,
                           const std::optional<std::string>& verp,
                           const std::vector<core::DsnStatusRule>& dsn_status) {
    std::vector<Verdict> out;
    if (report.kind == adapters::BounceReport::Kind::Arf) {
        const bool complaint = report.feedback_type != "not-spam";
        auto complainants = report.complainants;
        if (verp && complainants.size() <= 1) {
            complainants = {*verp};
        }
        for (const auto& c : complainants) {
            out.push_back({c, complaint ? Verdict::Kind::Complaint : Verdict::Kind::Ignore,
                           "feedback type " + report.feedback_type});
        }
        return out;
    }
    for (const auto& r : report.recipients) {
        out.push_back(judge_dsn(r, dsn_status));
    }
    // The VERP address is what the bounced mail was sent to: for a report
    // on one recipient it is the address to record, whatever forwarding
    // made of it on the way.
    if (verp && out.size() == 1) {
        out.front().address = *verp;
    }
    return out;
}

}  // namespace

int ingest(const IngestContext& ctx, std::string_view message, std::string_view envelope_recipient,
           std::ostream& out, std::ostream& err) {
    const auto& policy = *ctx.policy;
    const core::AddressRules rules{policy.suppression.fold_local_part};
    std::optional<std::string> verp;
    if (!envelope_recipient.empty()) {
        if (auto decoded = verp_decode(envelope_recipient)) {
            auto n = core::normalise_address(*decoded, rules, ctx.idna);
            if (!n) {
                err << "staffelctl: ingest: the VERP recipient " << *decoded
                    << " is not a usable address: " << n.error().message << '\n';
                return kExitDataErr;
            }
            verp = std::move(n).value();
        }
    }
    auto report = adapters::parse_bounce_report(message);
    if (!report) {
        err << "staffelctl: ingest: not a report Staffel can read: " << report.error().message
            << '\n';
        return kExitDataErr;
    }
    const auto verdicts = judge(*report, verp, policy.suppression.dsn_status);
    if (verdicts.empty()) {
        err << "staffelctl: ingest: the report names no recipient"
            << (report->kind == adapters::BounceReport::Kind::Arf
                    ? " (the complainant is redacted and no VERP recipient was given)"
                    : "")
            << '\n';
        return kExitDataErr;
    }
    const core::SuppressionKeys keys(policy.redis.prefix, policy.suppression.hash_secret, ctx.sha);
    if (!policy.suppression.hash_secret.empty() && ctx.sha == nullptr) {
        err << "staffelctl: ingest: hashing is configured but no SHA-256 is available\n";
        return kExitTempFail;
    }
    const auto tell = [&](std::string kind, const std::string& address) {
        if (ctx.ingested && !ctx.dry_run) {
            ctx.ingested(attribute_report(policy, std::move(kind), report->original_mail_from,
                                          report->original_headers),
                         address);
        }
    };
    int status = 0;
    for (const auto& v : verdicts) {
        auto address = core::normalise_address(v.address, rules, ctx.idna);
        if (!address) {
            err << "staffelctl: ingest: recipient \"" << v.address
                << "\" is not a usable address: " << address.error().message << '\n';
            status = kExitDataErr;
            continue;
        }
        core::SuppressionEntry e;
        e.added_at = ctx.now;
        e.address = *address;
        switch (v.kind) {
            case Verdict::Kind::Ignore:
                out << "ignored " << *address << " (" << v.detail << ")\n";
                continue;
            case Verdict::Kind::Hard:
            case Verdict::Kind::Complaint: {
                const bool hard = v.kind == Verdict::Kind::Hard;
                e.reason =
                    hard ? core::SuppressReason::HardBounce : core::SuppressReason::Complaint;
                e.source = source_of(*report, hard ? "dsn" : "arf");
                if (!ctx.dry_run) {
                    auto done = ctx.store->put(keys.entry_key({}, *address), e);
                    if (!done) {
                        err << "staffelctl: ingest: " << done.error().message << '\n';
                        return kExitTempFail;
                    }
                }
                out << (ctx.dry_run ? "would suppress " : "suppressed ") << *address << ' '
                    << core::reason_name(e.reason) << " (" << v.detail << ")\n";
                tell(hard ? "bounce_hard" : "complaint", *address);
                continue;
            }
            case Verdict::Kind::Soft: {
                e.reason = core::SuppressReason::HardBounce;
                e.source = "soft-bounces";
                const auto expires = policy.suppression.soft_bounce_expires.count();
                e.expires_at = expires > 0 ? ctx.now + expires : 0;
                if (ctx.dry_run) {
                    out << "would count a soft bounce for " << *address << " (" << v.detail
                        << ")\n";
                    continue;
                }
                // An address already suppressed for every stream gets no
                // mail to bounce; a late bounce of earlier mail is no news.
                const std::string entry_key = keys.entry_key({}, *address);
                auto listed = ctx.store->lookup(std::span(&entry_key, 1));
                if (!listed) {
                    err << "staffelctl: ingest: " << listed.error().message << '\n';
                    return kExitTempFail;
                }
                if (!listed->empty() && listed->front() && listed->front()->blocks_every_stream()) {
                    const auto& l = *listed->front();
                    out << *address << " is already suppressed (" << core::reason_name(l.reason)
                        << " since " << core::format_rfc3339_utc(l.added_at)
                        << "): soft bounce not counted (" << v.detail << ")\n";
                    continue;
                }
                auto counted = ctx.store->count_soft_bounce(
                    keys.soft_bounce_key(*address), policy.suppression.soft_bounce_window.count(),
                    policy.suppression.soft_bounce_limit, keys.entry_key({}, *address), e);
                if (!counted) {
                    err << "staffelctl: ingest: " << counted.error().message << '\n';
                    return kExitTempFail;
                }
                out << "soft bounce " << counted->count << " of "
                    << policy.suppression.soft_bounce_limit << " for " << *address << " ("
                    << v.detail << ")";
                if (counted->suppressed) {
                    out << ": suppressed hard_bounce";
                }
                out << '\n';
                tell("bounce_soft", *address);
                continue;
            }
        }
    }
    return status;
}

}  // namespace staffel::app
