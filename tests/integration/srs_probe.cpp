// srs_probe.cpp - a line-oriented driver of the SRS core, for comparing it
// with postsrsd (tests/integration/test_srs_postsrsd.py).
//
// Purpose: a test helper, not installed. Reads requests on stdin, one per
//   line, and answers each on stdout with one line:
//     request  DIRECTION SECRETS DOMAIN NOW ADDRESS [SEPARATOR]
//       DIRECTION  "forward" or "reverse"
//       SECRETS    one or more secrets joined by "," (the first signs)
//       DOMAIN     the SRS domain
//       NOW        seconds since the epoch
//       ADDRESS    the address (no spaces)
//       SEPARATOR  "=", "+" or "-" (default "=")
//     answer   "ok RESULT" or "error MESSAGE"
//   Requests are split on single spaces, so no field may contain one.
// Thread-safety: single-threaded.
// Errors: a request it cannot parse is answered "error bad request: ...";
//   the probe carries on. The exit status is 0 at end of input.
// Outside input: the test's requests only (trusted); lines are bounded to
//   4096 bytes all the same.
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/openssl/hmac.hpp"
#include "core/route/srs.hpp"

namespace {

using staffel::core::Result;

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        const auto pos = s.find(sep, start);
        out.emplace_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
        if (pos == std::string_view::npos) {
            return out;
        }
        start = pos + 1;
    }
}

Result<std::int64_t> parse_now(const std::string& text) {
    std::int64_t v = 0;
    if (text.empty() || text.size() > 18) {
        return staffel::core::make_error("NOW is not a number");
    }
    for (char c : text) {
        if (c < '0' || c > '9') {
            return staffel::core::make_error("NOW is not a number");
        }
        v = v * 10 + (c - '0');
    }
    return v;
}

std::string answer(const std::string& line) {
    const auto f = split(line, ' ');
    if (f.size() != 5 && f.size() != 6) {
        return "error bad request: want DIRECTION SECRETS DOMAIN NOW ADDRESS [SEPARATOR]";
    }
    staffel::core::SrsConfig config;
    config.secrets = split(f[1], ',');
    config.domain = f[2];
    if (f.size() == 6) {
        if (f[5].size() != 1) {
            return "error bad request: SEPARATOR is one character";
        }
        config.separator = f[5][0];
    }
    auto now = parse_now(f[3]);
    if (!now) {
        return "error bad request: " + now.error().message;
    }
    const staffel::core::HmacSha1 hmac = [](std::string_view key, std::string_view message) {
        return staffel::adapters::hmac_sha1(key, message);
    };
    Result<std::string> r = staffel::core::make_error("unreached");
    if (f[0] == "forward") {
        r = staffel::core::srs_forward(config, f[4], *now, hmac);
    } else if (f[0] == "reverse") {
        r = staffel::core::srs_reverse(config, f[4], *now, hmac);
    } else {
        return "error bad request: DIRECTION is forward or reverse";
    }
    return r ? "ok " + *r : "error " + r.error().message;
}

}  // namespace

int main() {
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.size() > 4096) {
            std::cout << "error bad request: line longer than 4096 bytes\n" << std::flush;
            continue;
        }
        std::cout << answer(line) << '\n' << std::flush;
    }
    return 0;
}
