// fuzz_session.cpp - libFuzzer target: core Session driven by random
// milter conversations through the core API (core/session.hpp), with the
// fake stores and edits of the unit tests.
//
// Purpose: every string a Session sees comes from the SMTP client through
//   the MTA, and the MTA may call the stages in surprising orders (a second
//   MAIL FROM without an end, a body without the end of the header, an
//   abort anywhere). Whatever the order and the bytes, a Session must never
//   crash, leak or hit undefined behaviour, and must keep these promises (a
//   broken one aborts, which libFuzzer reports as a crash):
//     E1  never unsigned: under the signing policy (policy 0), a message
//         the Session lets out (end_of_message() answers Continue) whose
//         header, as the driver sent it, fits the [milter] bounds and has
//         one From: of the key's domain, from a sender the policy trusts
//         to sign for it (the SASL login alice@example.com, or without a
//         login a client in trusted_networks), carries a DKIM-Signature
//         among the fields to prepend; the fake MTA received every one of
//         those fields.
//     E2  a header over the [milter] bounds is never let out when content
//         was negotiated: end_of_message() refuses it.
//     E3  the milter connection count returns to zero at close().
//     E4  a refusal carries an SMTP reply: a 4xx code for a tempfail and
//         5xx for a reject, with a matching enhanced code.
//     E5  never to a hard-bounced recipient: the store holds a hard bounce
//         for gone@example.net; a message let out with its edits applied,
//         while the store answered throughout, either never accepted that
//         recipient or removed it at the end.
// Input layout: byte 0 picks the policy (0: signing, quotas, suppression;
//   1: streams and routes with VERP, plain and SRS return paths, quotas;
//   2: everything of 0 and 1 with a quota that holds), the client address
//   and the SASL login; then operations, each one byte (the operation)
//   followed by its argument: a NUL-terminated string (or the rest of the
//   input).
// The policies load from the TOML below through the real loader; their
//   DKIM keys are stand-ins that return a fixed signature, SRS's HMAC-SHA1
//   a stand-in mixing function, and the suppression store holds a hard
//   bounce, an unsubscribe from the bulk stream and a complaint scoped to
//   one sender domain.
// Seeds: tests/fuzz/corpus/session/.
// Thread-safety: libFuzzer calls this from one thread.
// Outside input: the fuzzer's bytes.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"
#include "core/session.hpp"
#include "core/suppress/suppress.hpp"
#include "core/text.hpp"
#include "unit/core/fake_counter_store.hpp"
#include "unit/core/fake_message_edits.hpp"
#include "unit/core/fake_suppression_store.hpp"

namespace {

using namespace staffel::core;

// Aborts, naming the line of the promise broken.
void require(bool promise, int line = __builtin_LINE()) {
    if (!promise) {
        std::fprintf(stderr, "promise broken at %s:%d\n", __FILE__, line);
        std::abort();
    }
}

constexpr std::string_view kSigning = R"(
[milter]
max_headers = 12
max_header_bytes = "1KiB"
[dkim]
trusted_networks = ["192.0.2.0/24", "::1/128"]
authenticated = "own-domain"
[[dkim.keys]]
domain = "example.com"
selector = "s1"
algorithm = "ed25519-sha256"
key = "s1.pem"
[[quota]]
name = "per-sender"
key = "sender"
limit = "40/1h"
[[quota]]
name = "per-sender-domain"
key = "sender_domain"
limit = "60/1m"
burst = 5
[suppression]
enabled = true
)";

constexpr std::string_view kRouting = R"(
[milter]
max_headers = 12
max_header_bytes = "1KiB"
[routing]
default_stream = "transactional"
default_route = "inhouse"
[[stream]]
name = "bulk"
headers = ["Precedence: bulk", "List-Unsubscribe"]
route = "esp"
[[stream]]
name = "forwarded"
headers = ["Resent-From"]
route = "forward"
[[route]]
name = "inhouse"
bounce_domain = "bounce.example.com"
return_path = "plain"
strip_headers = ["X-Internal"]
[[route]]
name = "esp"
bounce_domain = "bounce.esp.example.com"
return_path = "verp"
add_headers = ["X-Campaign: {header:X-Campaign-Id} {stream} {route}"]
strip_headers = ["X-Internal"]
fallback = "inhouse"
[[route]]
name = "forward"
bounce_domain = "srs.example.com"
return_path = "srs"
srs_secret_file = "@SRS_SECRETS@"
[[quota]]
name = "bulk-rate"
key = "stream"
streams = ["bulk"]
limit = "600/1m"
burst = 100
)";

constexpr std::string_view kBoth = R"(
[milter]
max_headers = 12
max_header_bytes = "1KiB"
[dkim]
trusted_networks = ["192.0.2.0/24", "::1/128"]
[[dkim.keys]]
domain = "example.com"
selector = "s1"
algorithm = "ed25519-sha256"
key = "s1.pem"
[[dkim.keys]]
domain = "example.com"
selector = "esp1"
algorithm = "ed25519-sha256"
key = "esp1.pem"
[routing]
default_stream = "transactional"
default_route = "inhouse"
[[stream]]
name = "bulk"
headers = ["Precedence: bulk"]
route = "esp"
[[route]]
name = "inhouse"
bounce_domain = "bounce.example.com"
return_path = "plain"
dkim_keys = ["example.com/s1"]
[[route]]
name = "esp"
bounce_domain = "bounce.esp.example.com"
return_path = "verp"
dkim_keys = ["example.com/esp1"]
[suppression]
enabled = true
unsubscribe_streams = ["bulk"]
[[quota]]
name = "per-sender"
key = "sender"
limit = "40/1h"
[[quota]]
name = "bulk-hold"
key = "stream"
streams = ["bulk"]
limit = "3/1h"
action = "hold"
)";

struct FixedKey : SigningKey {
    [[nodiscard]] DkimAlgorithm algorithm() const override { return DkimAlgorithm::Ed25519Sha256; }
    [[nodiscard]] Result<std::string> sign(std::string_view) const override {
        return std::string(64, '\x01');
    }
};

struct NullSha : Sha256 {
    std::uint8_t n = 0;
    void update(std::string_view d) override {
        for (char c : d) {
            n = static_cast<std::uint8_t>(n * 31U + static_cast<std::uint8_t>(c));
        }
    }
    Result<Sha256Digest> finish() override {
        Sha256Digest out{};
        out[0] = n;
        n = 0;
        return out;
    }
};
struct NullShaFactory : Sha256Factory {
    [[nodiscard]] std::unique_ptr<Sha256> make() const override {
        return std::make_unique<NullSha>();
    }
};

// Log lines go nowhere, or to stderr with STAFFEL_FUZZ_VERBOSE set (to
// read what a crashing input did).
struct QuietLogger : Logger {
    bool verbose = std::getenv("STAFFEL_FUZZ_VERBOSE") != nullptr;
    void log(LogLevel, std::string_view m) override {
        require(m.find('\n') == m.npos);
        if (verbose) {
            std::fprintf(stderr, "log: %.*s\n", static_cast<int>(m.size()), m.data());
        }
    }
    [[nodiscard]] bool enabled(LogLevel) const override { return true; }
};

struct CountingInFlight : InFlight {
    int now = 0;
    void begin() override { ++now; }
    void end() override { --now; }
};

// The policy text with @SRS_SECRETS@ naming a secrets file (mode 0600, as
// the loader demands), removed again once the policy is loaded.
std::shared_ptr<const Policy> load(std::string_view text) {
    std::string toml(text);
    constexpr std::string_view kMark = "@SRS_SECRETS@";
    char path[] = "/tmp/fuzz_session_srs.XXXXXX";
    const auto at = toml.find(kMark);
    if (at != std::string::npos) {
        const int fd = mkstemp(path);
        require(fd >= 0);
        constexpr std::string_view kSecrets = "fuzz-secret-new\nfuzz-secret-old\n";
        require(write(fd, kSecrets.data(), kSecrets.size()) ==
                static_cast<ssize_t>(kSecrets.size()));
        close(fd);
        toml.replace(at, kMark.size(), path);
    }
    auto r = staffel::config::load_policy_text(toml, "session.toml");
    if (at != std::string::npos) {
        unlink(path);
    }
    if (r.policy == nullptr) {
        for (const auto& e : r.errors) {
            std::fprintf(stderr, "%s\n", e.to_string().c_str());
        }
        std::abort();
    }
    auto p = std::make_shared<Policy>(*r.policy);
    for (auto& k : p->dkim.keys) {
        k.key = std::make_shared<FixedKey>();
    }
    return p;
}

const std::vector<std::shared_ptr<const Policy>>& policies() {
    static const std::vector<std::shared_ptr<const Policy>> all{load(kSigning), load(kRouting),
                                                                load(kBoth)};
    return all;
}

// Reads the fuzzer's bytes.
struct Input {
    std::string_view rest;
    bool empty() const { return rest.empty(); }
    unsigned byte() {
        if (rest.empty()) {
            return 0;
        }
        const auto b = static_cast<std::uint8_t>(rest.front());
        rest.remove_prefix(1);
        return b;
    }
    std::string_view text() {
        const auto nul = rest.find('\0');
        const auto t = rest.substr(0, nul);
        rest.remove_prefix(nul == std::string_view::npos ? rest.size() : nul + 1);
        return t;
    }
};

bool is_reply(const Verdict& v) {
    if (v.action == Verdict::Action::Continue) {
        return true;
    }
    const char klass = v.action == Verdict::Action::Tempfail ? '4' : '5';
    return v.rcode.size() == 3 && v.rcode[0] == klass && v.xcode.size() >= 5 &&
           v.xcode[0] == klass && v.xcode[1] == '.';
}

// What the driver sent of the current message's header, replayed into a
// collector with the policy's bounds.
struct Sent {
    explicit Sent(const Policy& p) : headers(p.milter.max_headers, p.milter.max_header_bytes) {}
    HeaderCollector headers;
    bool header_done = false;
};

// A stand-in for HMAC-SHA1: 20 bytes that depend on every byte of key and
// message, so a changed character breaks the SRS hash as the real one would.
std::string mixing_hmac(std::string_view key, std::string_view message) {
    std::string out(20, '\0');
    std::uint32_t h = 2166136261U;
    std::size_t i = 0;
    for (const auto part : {key, std::string_view("\x01", 1), message}) {
        for (char c : part) {
            h = (h ^ static_cast<std::uint8_t>(c)) * 16777619U;
            out[i++ % out.size()] ^= static_cast<char>(h >> 24);
        }
    }
    return out;
}

// The recipient E5 watches, as the store holds it: the address without
// angle brackets, lowercased.
bool is_gone(std::string_view rcpt) {
    if (rcpt.size() >= 2 && rcpt.front() == '<' && rcpt.back() == '>') {
        rcpt = rcpt.substr(1, rcpt.size() - 2);
    }
    return iequals(rcpt, "gone@example.net");
}

constexpr const char* kClients[] = {"192.0.2.7", "203.0.113.9", "::1", "unknown", ""};
constexpr const char* kLogins[] = {"", "alice@example.com", "bob@other.example"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in{std::string_view(reinterpret_cast<const char*>(data), size)};
    const unsigned setup = in.byte();
    const auto& policy = policies()[setup % 3];
    const std::string client = kClients[(setup / 3) % 5];
    const std::string login = kLogins[(setup / 15) % 3];
    const bool negotiate = (setup & 0x80U) == 0 || policy->dkim.keys.empty();

    QuietLogger log;
    CountingInFlight flight;
    NullShaFactory sha;
    staffel::test::FakeCounterStore counters;
    staffel::test::FakeSuppressionStore suppressions;
    {
        using staffel::test::entry;
        const SuppressionKeys keys(policy->redis.prefix);
        suppressions.entries[keys.entry_key("", "gone@example.net")] =
            entry(SuppressReason::HardBounce);
        suppressions.entries[keys.entry_key("", "unsub@example.net")] =
            entry(SuppressReason::Unsubscribe, {"bulk"});
        suppressions.entries[keys.entry_key("example.com", "angry@example.net")] =
            entry(SuppressReason::Complaint, {}, "example.com");
    }
    QuotaStats quota_stats;
    SuppressStats suppress_stats;
    std::int64_t now = 1764936000;  // 2025-12-05 12:00 UTC
    {
        Session s([&] { return policy; }, log, &flight, &sha, [&] { return now; },
                  QuotaServices{&counters, &quota_stats},
                  SuppressServices{&suppressions, &sha, {}, &suppress_stats});
        s.content_negotiated(negotiate);
        s.srs_hmac(mixing_hmac);
        s.connect("client.example", client);
        std::optional<Sent> sent;
        SenderInfo sender;
        // E5's view of the current message: whether a gone@example.net was
        // accepted at RCPT, and whether the store failed at any point.
        bool gone_accepted = false;
        bool store_failed = suppressions.down;
        int steps = 0;
        while (!in.empty() && ++steps < 200) {
            const unsigned op = in.byte();
            switch (op % 10) {
                case 0: {  // MAIL FROM
                    sender = SenderInfo{std::string(in.text()), login, "Q1", (op & 0x10U) != 0};
                    require(is_reply(s.mail_from(sender)));
                    sent.emplace(*policy);
                    gone_accepted = false;
                    store_failed = suppressions.down;
                    break;
                }
                case 1: {
                    const auto rcpt = in.text();
                    const bool in_message = s.in_message();
                    const auto v = s.rcpt_to(rcpt);
                    require(is_reply(v));
                    if (in_message && v.action == Verdict::Action::Continue && is_gone(rcpt)) {
                        gone_accepted = true;
                    }
                    break;
                }
                case 2:
                case 3: {  // a header field: "Name\0value\0"
                    const auto name = in.text();
                    const auto value = in.text();
                    if (sent && !sent->header_done && s.in_message()) {
                        sent->headers.add(name, value);
                    }
                    s.header(name, value);
                    break;
                }
                case 4: {  // a From: field the key may sign for
                    const std::string value =
                        (op & 0x10U) != 0 ? " Alice <alice@example.com>" : " x@Example.COM.";
                    if (sent && !sent->header_done && s.in_message()) {
                        sent->headers.add("From", value);
                    }
                    s.header("From", value);
                    break;
                }
                case 5:
                    if (sent) {
                        sent->header_done = true;
                    }
                    s.end_of_headers();
                    break;
                case 6:
                    if (sent) {
                        sent->header_done = true;
                    }
                    s.body(in.text());
                    break;
                case 7: {  // end of message
                    const bool in_message = s.in_message();
                    staffel::test::FakeMessageEdits edits;
                    const auto v = s.end_of_message("Q2", (op & 0x10U) != 0 ? nullptr : &edits);
                    require(is_reply(v));
                    require(!s.in_message());
                    if (in_message && sent) {
                        const auto author = author_domain(sent->headers.fields());
                        // [dkim] authenticated = "own-domain" judges a SASL
                        // client; trusted_networks only the others.
                        const bool trusted = login.empty()
                                                 ? client == "192.0.2.7" || client == "::1"
                                                 : login == "alice@example.com";
                        const bool should_sign = !policy->dkim.keys.empty() &&
                                                 !sent->headers.overflowed() && author.ok &&
                                                 author.domain == "example.com" && trusted;
                        bool signed_ = false;
                        for (const auto& f : v.prepend) {
                            signed_ = signed_ || f.name == "DKIM-Signature";
                        }
                        // E1 (policy 0: policies with routes sign only on
                        // the route's keys, which the From: decides too)
                        if (setup % 3 == 0 && should_sign &&
                            v.action == Verdict::Action::Continue) {
                            require(signed_);
                        }
                        if (v.action == Verdict::Action::Continue && (op & 0x10U) == 0) {
                            require(edits.inserted >= static_cast<int>(v.prepend.size()));
                        }
                        // E2
                        if (negotiate && sent->headers.overflowed()) {
                            require(v.action != Verdict::Action::Continue);
                        }
                        // E5
                        if (policy->suppression.enabled && gone_accepted && !store_failed &&
                            v.action == Verdict::Action::Continue && (op & 0x10U) == 0) {
                            bool removed = false;
                            for (const auto& d : edits.deleted) {
                                removed = removed || is_gone(d);
                            }
                            require(removed);
                        }
                    }
                    sent.reset();
                    gone_accepted = false;
                    break;
                }
                case 8:
                    s.abort();
                    require(!s.in_message());
                    sent.reset();
                    gone_accepted = false;
                    break;
                case 9:
                    now += static_cast<std::int64_t>(in.byte()) * 600;
                    counters.now_us = now * 1000000;
                    counters.fail = (op & 0x10U) != 0;
                    suppressions.down = (op & 0x20U) != 0;
                    store_failed = store_failed || suppressions.down;
                    // RCPT without a reply (a connection older than the
                    // reload that turned suppression on): looked up at the end.
                    s.rcpt_replies_negotiated((op & 0x40U) == 0);
                    break;
            }
        }
        s.close();
        require(flight.now == 0);  // E3
    }
    require(flight.now == 0);
    return 0;
}
