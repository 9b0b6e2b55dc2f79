// test_hmac.cpp - adapters/openssl/hmac: HMAC-SHA1 for SRS return paths,
// against RFC 2202's test cases.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "adapters/openssl/hmac.hpp"

using namespace staffel;

namespace {

std::string hex(const std::string& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 15]);
    }
    return out;
}

}  // namespace

TEST_CASE("hmac_sha1 matches RFC 2202", "[srs]") {
    struct Case {
        std::string key;
        std::string data;
        std::string want;
    };
    const std::vector<Case> cases = {
        {std::string(20, '\x0b'), "Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"},
        {"Jefe", "what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
        {std::string(80, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
         "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
    };
    for (const auto& c : cases) {
        INFO("data " << c.data);
        CHECK(hex(adapters::hmac_sha1(c.key, c.data)) == c.want);
    }
    CHECK(adapters::hmac_sha1("", "").size() == 20);
}

// Made by /usr/sbin/postsrsd 1.10 (Debian 12) under faketime(1) at the dates
// given, with `-d bounce.staffel.test` and the secret file of
// vector_config() (or one line of 100 "L" for the long-key rows, run with
// `-a +`), queried over its tcp_table forward port.
