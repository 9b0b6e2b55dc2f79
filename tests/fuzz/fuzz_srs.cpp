// fuzz_srs.cpp - libFuzzer target: SRS rewriting and decoding
// (core/route/srs.hpp).
//
// Purpose: srs_reverse() decodes the recipients of bounces, which anyone
//   can send, and srs_forward() rewrites the envelope senders of relayed
//   mail; neither may crash, leak or hit undefined behaviour, and they
//   must keep these promises (a broken one aborts, which libFuzzer reports
//   as a crash):
//     S1  nothing returned is longer than 254 octets; errors have a
//         message that never holds a secret.
//     S2  a forwarded address is an SRS address (is_srs_address()), or the
//         address unchanged when its domain is the SRS domain.
//     S3  round trip, the same day and up to max_age_days later: a plain
//         address forwards to an SRS0 address that reverses to it; an SRS0
//         address of another domain forwards to an SRS1 address that
//         reverses to it (with its tag spelled "SRS0"); after
//         max_age_days + 1 days the SRS0 form is refused as expired.
//     S4  an address reversed at all reverses the same way again; an
//         address signed with a secret that is not configured is refused.
// The HMAC is a stand-in (FNV-1a over key and message, 20 bytes): the
//   fuzzer exercises the codec, not the cryptography.
// Input layout: one byte of flags (separator, max age, clock), then the
//   address.
// Seeds: tests/fuzz/corpus/srs/.
// Thread-safety: libFuzzer calls this from one thread.
// Outside input: the fuzzer's bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/route/srs.hpp"
#include "core/text.hpp"

namespace {

using namespace staffel::core;

constexpr std::string_view kSecret = "s3cr3t-signing";
constexpr std::string_view kRetired = "old-s3cr3t";
constexpr std::int64_t kDay = 86400;

// Aborts, naming the line of the promise broken.
void require(bool promise, int line = __builtin_LINE()) {
    if (!promise) {
        std::fprintf(stderr, "promise broken at %s:%d\n", __FILE__, line);
        std::abort();
    }
}

std::string fake_hmac(std::string_view key, std::string_view message) {
    std::string out;
    std::uint64_t h = 1469598103934665603ULL;
    for (int round = 0; round < 3; ++round) {
        for (char c : key) {
            h = (h ^ static_cast<std::uint8_t>(c)) * 1099511628211ULL;
        }
        for (char c : message) {
            h = (h ^ static_cast<std::uint8_t>(c)) * 1099511628211ULL;
        }
        for (int i = 0; i < 8 && out.size() < 20; ++i) {
            out.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
        }
    }
    return out;
}

const HmacSha1 kHmac = [](std::string_view key, std::string_view message) {
    return fake_hmac(key, message);
};

void check_error(const Result<std::string>& r) {
    require(!r.error().message.empty());
    require(r.error().message.find(kSecret) == std::string::npos);
    require(r.error().message.find(kRetired) == std::string::npos);
}

bool same_ignoring_tag_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size() || a.size() < 4) {
        return false;
    }
    for (std::size_t i = 0; i < 4; ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return a.substr(4) == b.substr(4);
}

void check(std::string_view address, unsigned flags) {
    static const char kSeparators[] = {'=', '+', '-', '='};
    SrsConfig config;
    config.domain = "srs.example.net";
    config.secrets = {std::string(kSecret), std::string(kRetired)};
    config.separator = kSeparators[flags & 3U];
    config.max_age_days = (flags & 4U) != 0 ? 1 : 21;
    const std::int64_t now = (flags & 8U) != 0 ? 0 : std::int64_t{20000} * kDay + 3600;

    // S1, S4 on the input as a bounce recipient.
    const auto reversed = srs_reverse(config, address, now, kHmac);
    if (reversed.ok()) {
        require(reversed->size() <= 254 && !reversed->empty());
        const auto again = srs_reverse(config, address, now, kHmac);
        require(again.ok() && *again == *reversed);
        SrsConfig other = config;
        other.secrets = {"another-secret"};
        require(!srs_reverse(other, address, now, kHmac).ok());
    } else {
        check_error(reversed);
    }

    // S1, S2, S3 on the input as a sender.
    const auto forwarded = srs_forward(config, address, now, kHmac);
    if (!forwarded.ok()) {
        check_error(forwarded);
        return;
    }
    require(forwarded->size() <= 254);
    if (*forwarded == address) {
        const auto at = address.rfind('@');
        require(at != std::string_view::npos &&
                ascii_lower(address.substr(at + 1)) == config.domain);
        return;
    }
    require(is_srs_address(*forwarded));
    const bool was_srs0 = is_srs_address(address) && (address[3] == '0');
    const bool was_srs = is_srs_address(address);
    for (const std::int64_t later : {std::int64_t{0}, std::int64_t{config.max_age_days} * kDay}) {
        const auto back = srs_reverse(config, *forwarded, now + later, kHmac);
        if (!was_srs) {
            require(back.ok() && *back == address);
        } else if (was_srs0) {
            require(back.ok() && same_ignoring_tag_case(*back, address));
        } else {
            require(back.ok());  // SRS1 in: the first forwarder's SRS0 out
        }
    }
    if (!was_srs) {
        const auto expired = srs_reverse(config, *forwarded,
                                         now + std::int64_t{config.max_age_days + 1} * kDay, kHmac);
        require(!expired.ok() && expired.error().message.starts_with("timestamp expired"));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    check(input, data[0]);
    return 0;
}
