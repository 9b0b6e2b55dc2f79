// fuzz_bounce_report.cpp - libFuzzer target: parse_bounce_report() on any
// bytes.
//
// Purpose: the report parser reads mail from anywhere on the Internet; it
//   must never crash, leak, read out of bounds or hit undefined behaviour,
//   and what it accepts must keep the promises of bounce_report.hpp. A
//   broken promise aborts, which libFuzzer reports as a crash.
// Seeds: tests/data/bounces/ (run.sh copies them; see tests/fuzz/run.sh).
// Thread-safety: libFuzzer calls this from one thread.
// Outside input: the fuzzer's bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "adapters/gmime/bounce_report.hpp"

namespace {

using staffel::adapters::BounceReport;

void require(bool promise) {
    if (!promise) {
        std::abort();
    }
}

bool is_status_code(std::string_view s) {
    const auto digits = [](std::string_view d) {
        if (d.empty() || d.size() > 3) {
            return false;
        }
        for (char c : d) {
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    };
    if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') {
        return false;
    }
    const auto dot = s.find('.', 2);
    return dot != std::string_view::npos && digits(s.substr(2, dot - 2)) &&
           digits(s.substr(dot + 1));
}

void check_dsn(const BounceReport& r) {
    require(!r.recipients.empty());
    require(r.recipients.size() <= staffel::adapters::kMaxBounceRecipients);
    for (const auto& rcpt : r.recipients) {
        require(!rcpt.address.empty() && rcpt.address.find('@') != std::string_view::npos);
        require(rcpt.action == "failed" || rcpt.action == "delayed" || rcpt.action == "delivered" ||
                rcpt.action == "relayed" || rcpt.action == "expanded");
        require(rcpt.status.empty() ? rcpt.action != "failed" : is_status_code(rcpt.status));
        require(rcpt.diagnostic.size() <= staffel::adapters::kMaxBounceDiagnosticBytes);
    }
}

void check_arf(const BounceReport& r) {
    require(!r.feedback_type.empty());
    require(r.recipients.empty());
    require(r.complainants.size() <= staffel::adapters::kMaxBounceRecipients);
    for (const auto& c : r.complainants) {
        require(c.find('@') != std::string_view::npos);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    auto got = staffel::adapters::parse_bounce_report(input);
    if (!got.ok()) {
        require(!got.error().message.empty());
        return 0;
    }
    if (got->kind == BounceReport::Kind::Dsn) {
        check_dsn(*got);
    } else {
        check_arf(*got);
    }
    return 0;
}
