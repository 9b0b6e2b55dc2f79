// test_srs.cpp - SRS rewriting and decoding (core/route/srs.hpp) with the
// OpenSSL HMAC-SHA1 (adapters/openssl/hmac.hpp): vectors made by the real
// postsrsd 1.10, round trips, SRS1 chains, forgeries, secret rotation,
// expiry at the boundary, case folding and malformed input.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "adapters/openssl/hmac.hpp"
#include "core/route/srs.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

constexpr std::int64_t kDay = 86400;

// 2024-03-01 12:00:00 UTC, day slot 327 ("KH").
constexpr std::int64_t k20240301 = 1709294400;
// 2026-01-05/06/10 08:00:00 and 2026-01-27 12:00:00 UTC; the 27th is day
// slot 0 ("AA"), so the older ones sit before the wrap (slots 1002..1007).
constexpr std::int64_t k20260105 = 1767600000;
constexpr std::int64_t k20260106 = 1767686400;
constexpr std::int64_t k20260110 = 1768032000;
constexpr std::int64_t k20260127 = 1769515200;

const HmacSha1 kHmac = [](std::string_view key, std::string_view message) {
    return adapters::hmac_sha1(key, message);
};

SrsConfig config(std::vector<std::string> secrets, std::string domain = "bounce.staffel.test",
                 char separator = '=') {
    SrsConfig c;
    c.domain = std::move(domain);
    c.secrets = std::move(secrets);
    c.separator = separator;
    return c;
}

// The secret file the vectors were made with: "staffel-test-secret" then
// "previous-secret", one per line.
SrsConfig vector_config() {
    return config({"staffel-test-secret", "previous-secret"});
}

std::string got_of(const Result<std::string>& r) {
    return r ? *r : "error: " + r.error().message;
}

}  // namespace

TEST_CASE("srs_forward reproduces postsrsd's addresses", "[srs]") {
    struct Case {
        SrsConfig cfg;
        std::int64_t now;
        std::string in;
        std::string want;
    };
    const auto vec = vector_config();
    const auto long_key = config({std::string(100, 'L')}, "bounce.staffel.test", '+');
    const std::vector<Case> cases = {
        {vec, k20240301, "alice@example.com", "SRS0=DFOy=KH=example.com=alice@bounce.staffel.test"},
        {vec, k20240301, "Bob.Smith+tag@Sub.Example.ORG",
         "SRS0=V4vO=KH=Sub.Example.ORG=Bob.Smith+tag@bounce.staffel.test"},
        {vec, k20240301, "user=with=eq@example.net",
         "SRS0=6d6E=KH=example.net=user=with=eq@bounce.staffel.test"},
        {vec, k20240301, "SRS0=abcd=AB=x.com=u@other.net",
         "SRS1=kyvw=other.net==abcd=AB=x.com=u@bounce.staffel.test"},
        {vec, k20240301, "SRS1=abcd=fw.net==XXXX=AB=x.com=u@other.net",
         "SRS1=r+54=fw.net==XXXX=AB=x.com=u@bounce.staffel.test"},
        {vec, k20260105, "carol@example.com", "SRS0=YV7R=7K=example.com=carol@bounce.staffel.test"},
        {vec, k20260106, "carol@example.com", "SRS0=ZbvN=7L=example.com=carol@bounce.staffel.test"},
        {vec, k20260110, "carol@example.com", "SRS0=W04k=7P=example.com=carol@bounce.staffel.test"},
        {vec, k20260127, "dave@example.com", "SRS0=GIRR=AA=example.com=dave@bounce.staffel.test"},
        {long_key, k20240301, "alice@example.com",
         "SRS0+28lq=KH=example.com=alice@bounce.staffel.test"},
        {long_key, k20240301, "SRS0=abcd=AB=x.com=u@other.net",
         "SRS1+IuNB=other.net==abcd=AB=x.com=u@bounce.staffel.test"},
    };
    for (const auto& c : cases) {
        INFO("in " << c.in << " at " << c.now);
        CHECK(got_of(srs_forward(c.cfg, c.in, c.now, kHmac)) == c.want);
    }
}

// SRS1 addresses carry no timestamp, so these hold at any date. Made by
// postsrsd 1.10 with `-d srs.example.org` and the secrets "tops3cret" then
// "old-secret", including its quirks: "SRS0" alone counts as an SRS0 local
// part there, and another forwarder's SRS1 hash need not have four
// characters.
TEST_CASE("srs SRS1 addresses match postsrsd's at any date", "[srs]") {
    const auto cfg = config({"tops3cret", "old-secret"}, "srs.example.org");
    struct Case {
        std::string in;
        std::string want;
    };
    const std::vector<Case> forward = {
        {"SRS0=abcd=AB=x.com=u@other.net", "SRS1=tNvN=other.net==abcd=AB=x.com=u@srs.example.org"},
        {"srs0+abcd=AB=x.com=u@other.net", "SRS1=0veF=other.net=+abcd=AB=x.com=u@srs.example.org"},
        {"SRS1=abcd=fw.net==XXXX=AB=x.com=u@other.net",
         "SRS1=MSS1=fw.net==XXXX=AB=x.com=u@srs.example.org"},
        {"SRS1+abcd=fw.net=-XXXX=AB=x.com=u@other.net",
         "SRS1=8U9T=fw.net=-XXXX=AB=x.com=u@srs.example.org"},
        {"SRS0=@other.net", "SRS1=wQuQ=other.net==@srs.example.org"},
        {"SRS1=a=b=@other.net", "SRS1=G5oq=b=@srs.example.org"},
    };
    for (const auto& c : forward) {
        INFO("forward " << c.in);
        CHECK(got_of(srs_forward(cfg, c.in, k20240301, kHmac)) == c.want);
    }
    const std::vector<Case> reverse = {
        {"SRS1=tNvN=other.net==abcd=AB=x.com=u@srs.example.org", "SRS0=abcd=AB=x.com=u@other.net"},
        {"SRS1=0veF=other.net=+abcd=AB=x.com=u@srs.example.org", "SRS0+abcd=AB=x.com=u@other.net"},
        {"SRS1=y6iH=other.net=@srs.example.org", "SRS0@other.net"},
        {"SRS1=tNvX=other.net==abcd=AB=x.com=u@srs.example.org",
         "error: hash does not match (tampered or wrong secret)"},
    };
    for (const auto& c : reverse) {
        INFO("reverse " << c.in);
        CHECK(got_of(srs_reverse(cfg, c.in, k20240301, kHmac)) == c.want);
    }
}

// What postsrsd answered on its reverse port at the date given.
TEST_CASE("srs_reverse decides like postsrsd", "[srs]") {
    struct Case {
        std::int64_t now;
        std::string in;
        std::string want;  // the address, or "error: ..."
    };
    const std::vector<Case> cases = {
        {k20240301, "SRS0=DFOy=KH=example.com=alice@bounce.staffel.test", "alice@example.com"},
        {k20240301, "SRS0=dfoy=kh=example.com=alice@bounce.staffel.test", "alice@example.com"},
        // Signed by the second secret 21 and 22 days earlier.
        {k20240301, "SRS0=PNN0=JS=example.com=alice@b", "alice@example.com"},
        {k20240301, "SRS0=0agd=JR=example.com=alice@b",
         "error: timestamp expired (22 days old, max 21)"},
        // Across the wrap of the 1024-day timestamp.
        {k20260127, "SRS0=W04k=7P=example.com=carol@bounce.staffel.test", "carol@example.com"},
        {k20260127, "SRS0=ZbvN=7L=example.com=carol@bounce.staffel.test", "carol@example.com"},
        {k20260127, "SRS0=YV7R=7K=example.com=carol@bounce.staffel.test",
         "error: timestamp expired (22 days old, max 21)"},
        {k20260127, "SRS1=kyvw=other.net==abcd=AB=x.com=u@bounce.staffel.test",
         "SRS0=abcd=AB=x.com=u@other.net"},
        {k20260127, "srs1=KYVW=other.net==abcd=AB=x.com=u@bounce.staffel.test",
         "SRS0=abcd=AB=x.com=u@other.net"},
    };
    for (const auto& c : cases) {
        INFO("in " << c.in << " at " << c.now);
        CHECK(got_of(srs_reverse(vector_config(), c.in, c.now, kHmac)) == c.want);
    }
}

TEST_CASE("srs round trips", "[srs]") {
    const std::vector<std::string> addresses = {
        "alice@example.com",
        "Mixed.Case@Example.COM",
        "a@b.c",
        "user+tag=x-y@sub.example.org",
        "o'brien@example.ie",
        "\xc3\xa9lise@\xc3\xa9xample.fr",  // SMTPUTF8
        std::string(64, 'x') + "@example.com",
    };
    for (char sep : {'=', '+', '-'}) {
        const auto cfg = config({"s3cret"}, "srs.example.net", sep);
        for (const auto& a : addresses) {
            INFO("address " << a << " separator " << sep);
            auto fwd = srs_forward(cfg, a, k20240301, kHmac);
            REQUIRE(fwd.ok());
            CHECK(fwd->rfind(std::string("SRS0") + sep, 0) == 0);
            CHECK(is_srs_address(*fwd));
            CHECK(got_of(srs_reverse(cfg, *fwd, k20240301 + 3 * kDay, kHmac)) == a);
        }
    }
}

TEST_CASE("srs chains: SRS1 keeps the first forwarder and decodes back to it", "[srs]") {
    const auto a = config({"secret-a"}, "a.example");
    const auto b = config({"secret-b"}, "b.example", '+');
    const auto c = config({"secret-c"}, "c.example");
    const std::int64_t now = k20240301;

    auto at_a = srs_forward(a, "alice@origin.example", now, kHmac);
    REQUIRE(at_a.ok());
    auto at_b = srs_forward(b, *at_a, now, kHmac);
    REQUIRE(at_b.ok());
    CHECK(at_b->rfind("SRS1+", 0) == 0);
    const std::string rest = at_a->substr(4, at_a->find('@') - 4);  // "=HASH=TT=..."
    CHECK(at_b->find("=a.example=" + rest + "@b.example") != std::string::npos);
    auto at_c = srs_forward(c, *at_b, now, kHmac);
    REQUIRE(at_c.ok());
    CHECK(at_c->rfind("SRS1=", 0) == 0);
    CHECK(at_c->find("=a.example=" + rest + "@c.example") != std::string::npos);

    // A bounce to c or b goes straight back to a; a decodes the original.
    CHECK(got_of(srs_reverse(c, *at_c, now, kHmac)) == *at_a);
    CHECK(got_of(srs_reverse(b, *at_b, now, kHmac)) == *at_a);
    CHECK(got_of(srs_reverse(a, *at_a, now, kHmac)) == "alice@origin.example");
    // Each hop verifies only its own signature.
    CHECK(got_of(srs_reverse(b, *at_c, now, kHmac)) ==
          "error: hash does not match (tampered or wrong secret)");
}

TEST_CASE("srs_forward leaves addresses on the SRS domain alone", "[srs]") {
    const auto cfg = config({"s3cret"}, "srs.example.net");
    for (const std::string a :
         {"bob@srs.example.net", "bob@SRS.Example.NET", "SRS0=abcd=AB=x.com=u@srs.example.net",
          "SRS1=abcd=x.com==abcd=AB=y.com=u@srs.example.net"}) {
        INFO(a);
        CHECK(got_of(srs_forward(cfg, a, k20240301, kHmac)) == a);
    }
}

TEST_CASE("srs_reverse refuses tampered addresses and wrong secrets", "[srs]") {
    const auto cfg = config({"s3cret"}, "srs.example.net");
    auto made = srs_forward(cfg, "alice@example.com", k20240301, kHmac);
    REQUIRE(made.ok());
    const std::string& good = *made;  // SRS0=HHHH=KH=example.com=alice@srs.example.net
    const std::string hash = good.substr(5, 4);
    std::string other_hash = hash;
    other_hash[0] = hash[0] == 'A' ? 'B' : 'A';
    const std::vector<std::string> tampered = {
        "SRS0=" + other_hash + "=KH=example.com=alice@srs.example.net",
        "SRS0=" + hash + "=KG=example.com=alice@srs.example.net",
        "SRS0=" + hash + "=KH=example.org=alice@srs.example.net",
        "SRS0=" + hash + "=KH=example.com=mallory@srs.example.net",
        "SRS0=" + hash + "=KH=example.com=alice.x@srs.example.net",
    };
    for (const auto& t : tampered) {
        INFO(t);
        CHECK(got_of(srs_reverse(cfg, t, k20240301, kHmac)) ==
              "error: hash does not match (tampered or wrong secret)");
    }
    const auto wrong = config({"not-the-secret"}, "srs.example.net");
    CHECK(got_of(srs_reverse(wrong, good, k20240301, kHmac)) ==
          "error: hash does not match (tampered or wrong secret)");
    // The domain after "@" is not covered by the hash (as with postsrsd).
    CHECK(got_of(srs_reverse(cfg, good.substr(0, good.find('@')) + "@elsewhere.example", k20240301,
                             kHmac)) == "alice@example.com");
    // A hash field longer than four is judged on its first four characters.
    CHECK(got_of(srs_reverse(cfg, "SRS0=" + hash + "xyz" + good.substr(9), k20240301, kHmac)) ==
          "alice@example.com");
}

TEST_CASE("srs secret rotation: the first secret signs, every secret verifies", "[srs]") {
    const auto old_only = config({"old"});
    const auto rotated = config({"new", "old"});
    const auto new_only = config({"new"});
    auto by_old = srs_forward(old_only, "alice@example.com", k20240301, kHmac);
    REQUIRE(by_old.ok());
    CHECK(got_of(srs_reverse(rotated, *by_old, k20240301, kHmac)) == "alice@example.com");
    CHECK_FALSE(srs_reverse(new_only, *by_old, k20240301, kHmac).ok());

    auto by_rotated = srs_forward(rotated, "alice@example.com", k20240301, kHmac);
    REQUIRE(by_rotated.ok());
    CHECK(got_of(srs_reverse(new_only, *by_rotated, k20240301, kHmac)) == "alice@example.com");
    CHECK_FALSE(srs_reverse(old_only, *by_rotated, k20240301, kHmac).ok());
}

TEST_CASE("srs expiry: valid up to max_age_days, to the second", "[srs]") {
    const std::int64_t midnight = k20240301 - k20240301 % kDay;
    auto cfg = config({"s3cret"});
    auto made = srs_forward(cfg, "alice@example.com", midnight + kDay - 1, kHmac);
    REQUIRE(made.ok());
    struct Case {
        int max_age;
        std::int64_t now;
        std::string want;
    };
    const std::vector<Case> cases = {
        {21, midnight, "alice@example.com"},
        {21, midnight + 21 * kDay + kDay - 1, "alice@example.com"},
        {21, midnight + 22 * kDay, "error: timestamp expired (22 days old, max 21)"},
        {21, midnight - 1, "error: timestamp expired (1023 days old, max 21)"},  // future
        {21, midnight + 1024 * kDay, "alice@example.com"},                       // wrapped
        {5, midnight + 5 * kDay, "alice@example.com"},
        {5, midnight + 6 * kDay, "error: timestamp expired (6 days old, max 5)"},
    };
    for (const auto& c : cases) {
        INFO("max " << c.max_age << " now " << c.now);
        cfg.max_age_days = c.max_age;
        CHECK(got_of(srs_reverse(cfg, *made, c.now, kHmac)) == c.want);
    }
    // An SRS1 address has no timestamp of its own.
    auto srs1 = srs_forward(cfg, "SRS0=abcd=AB=x.com=u@other.net", midnight, kHmac);
    REQUIRE(srs1.ok());
    CHECK(srs_reverse(cfg, *srs1, midnight + 500 * kDay, kHmac).ok());
}

TEST_CASE("srs_reverse folds case in tag, hash and timestamp, keeps it in the result", "[srs]") {
    const auto cfg = config({"s3cret"}, "srs.example.net");
    auto made = srs_forward(cfg, "Alice.Smith@Example.COM", k20240301, kHmac);
    REQUIRE(made.ok());
    std::string lowered;
    std::string uppered;
    for (char c : *made) {
        lowered.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
        uppered.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
    }
    CHECK(got_of(srs_reverse(cfg, *made, k20240301, kHmac)) == "Alice.Smith@Example.COM");
    CHECK(got_of(srs_reverse(cfg, lowered, k20240301, kHmac)) == "alice.smith@example.com");
    CHECK(got_of(srs_reverse(cfg, uppered, k20240301, kHmac)) == "ALICE.SMITH@EXAMPLE.COM");
}

TEST_CASE("srs_reverse names what is wrong with malformed addresses", "[srs]") {
    const auto cfg = config({"s3cret"}, "srs.example.net");
    struct Case {
        std::string in;
        std::string want;
    };
    const std::vector<Case> cases = {
        {"alice@example.com", "error: not an SRS address"},
        {"SRS0@srs.example.net", "error: not an SRS address"},
        {"SRS0x1234=KH=a.b=c@srs.example.net", "error: not an SRS address"},
        {"SRS2=1234=KH=a.b=c@srs.example.net", "error: not an SRS address"},
        {"", "error: not an SRS address"},
        {"SRS0=@srs.example.net", "error: malformed SRS0 address: nothing after the hash"},
        {"SRS0=1234@srs.example.net", "error: malformed SRS0 address: nothing after the hash"},
        {"SRS0=1234=KH@srs.example.net",
         "error: malformed SRS0 address: nothing after the timestamp"},
        {"SRS0=1234=KH=a.b@srs.example.net",
         "error: malformed SRS0 address: no local part after the domain"},
        {"SRS0=123=KH=a.b=c@srs.example.net",
         "error: malformed SRS0 address: hash shorter than 4 characters"},
        {"SRS0=1234=K=a.b=c@srs.example.net",
         "error: malformed SRS0 address: timestamp is not 2 characters"},
        {"SRS0=1234=KHA=a.b=c@srs.example.net",
         "error: malformed SRS0 address: timestamp is not 2 characters"},
        {"SRS0=1234=K1=a.b=c@srs.example.net",
         "error: malformed SRS0 address: timestamp has a character outside base32 (A-Z, 2-7)"},
        {"SRS0=1234=KH==c@srs.example.net", "error: malformed SRS0 address: empty domain"},
        {"SRS0=1234=KH=a.b=@srs.example.net", "error: malformed SRS0 address: empty local part"},
        {"SRS1=@srs.example.net", "error: malformed SRS1 address: nothing after the hash"},
        {"SRS1=1234=a.b@srs.example.net", "error: malformed SRS1 address: nothing after the host"},
        {"SRS1=12=a.b==x@srs.example.net",
         "error: malformed SRS1 address: hash shorter than 4 characters"},
        {"SRS1=1234===x@srs.example.net", "error: malformed SRS1 address: empty host"},
        {"SRS0=1234=KH=a.b=" + std::string(240, 'c') + "@srs.example.net",
         "error: address too long (273 octets, max 254)"},
    };
    for (const auto& c : cases) {
        INFO("in " << c.in);
        CHECK(got_of(srs_reverse(cfg, c.in, k20240301, kHmac)) == c.want);
    }
}

TEST_CASE("srs_forward refuses what it cannot rewrite", "[srs]") {
    const auto cfg = config({"s3cret"}, "srs.example.net");
    struct Case {
        std::string in;
        std::string want;
    };
    const std::vector<Case> cases = {
        {"alice", "error: address has no '@'"},
        {"", "error: address has no '@'"},
        {"alice@", "error: address: empty domain"},
        {"@example.com", "error: address: empty local part"},
        {"a@b@example.com",
         "error: address: local part has a character that cannot stand unquoted in an SRS "
         "address"},
        {"\"john doe\"@example.com",
         "error: address: local part has a character that cannot stand unquoted in an SRS "
         "address"},
        {"alice@[192.0.2.1]",
         "error: address: domain has a character other than letters, digits, '-', '.', '_'"},
        {"alice@exa=mple.com",
         "error: address: domain has a character other than letters, digits, '-', '.', '_'"},
        {std::string(65, 'x') + "@example.com", "error: local part too long (65 octets, max 64)"},
        {"a@" + std::string(253, 'd'), "error: address too long (255 octets, max 254)"},
        {std::string(60, 'x') + "@" + std::string(195, 'd'),
         "error: address too long (256 octets, max 254)"},
        {std::string(60, 'x') + "@" + std::string(180, 'd'),
         "error: rewritten address too long (270 octets, max 254)"},
        {"SRS1=@other.net", "error: malformed SRS1 address: nothing after the hash"},
        {"SRS1=abcd@other.net", "error: malformed SRS1 address: nothing after the hash"},
        {"SRS1==host=x@other.net", "error: malformed SRS1 address: empty hash"},
        {"SRS1=abcd==x@other.net", "error: malformed SRS1 address: empty host"},
        {"SRS1=abcd=host@other.net", "error: malformed SRS1 address: nothing after the host"},
    };
    for (const auto& c : cases) {
        INFO("in " << c.in);
        CHECK(got_of(srs_forward(cfg, c.in, k20240301, kHmac)) == c.want);
    }
}

TEST_CASE("srs configuration is checked", "[srs]") {
    struct Case {
        SrsConfig cfg;
        std::string want;
    };
    auto with = [](auto edit) {
        SrsConfig c = config({"s3cret"}, "srs.example.net");
        edit(c);
        return c;
    };
    const std::vector<Case> cases = {
        {with([](SrsConfig&) {}), "ok"},
        {with([](SrsConfig& c) { c.domain.clear(); }), "SRS domain: empty domain"},
        {with([](SrsConfig& c) { c.domain = "a@b"; }),
         "SRS domain: domain has a character other than letters, digits, '-', '.', '_'"},
        {with([](SrsConfig& c) { c.secrets.clear(); }),
         "SRS secrets: none given; at least one is needed"},
        {with([](SrsConfig& c) { c.secrets.emplace_back(); }), "SRS secrets: secret 2 is empty"},
        {with([](SrsConfig& c) { c.max_age_days = 0; }), "SRS max age: 0 days; want 1..1023"},
        {with([](SrsConfig& c) { c.max_age_days = 1024; }), "SRS max age: 1024 days; want 1..1023"},
        {with([](SrsConfig& c) { c.separator = '_'; }), "SRS separator: want one of '=', '+', '-'"},
    };
    for (const auto& c : cases) {
        auto r = check_srs_config(c.cfg);
        CHECK((r ? std::string("ok") : r.error().message) == c.want);
        if (!r) {
            CHECK(got_of(srs_forward(c.cfg, "a@b.c", k20240301, kHmac)) == "error: " + c.want);
            CHECK(got_of(srs_reverse(c.cfg, "SRS0=1234=KH=b.c=a@x", k20240301, kHmac)) ==
                  "error: " + c.want);
        }
    }
}

TEST_CASE("srs reports a failing HMAC instead of signing with garbage", "[srs]") {
    const auto cfg = config({"s3cret"}, "srs.example.net");
    const HmacSha1 broken = [](std::string_view, std::string_view) { return std::string(); };
    CHECK(got_of(srs_forward(cfg, "a@b.c", k20240301, broken)) ==
          "error: HMAC-SHA1 failed (0 bytes, want 20)");
    auto made = srs_forward(cfg, "a@b.c", k20240301, kHmac);
    REQUIRE(made.ok());
    CHECK(got_of(srs_reverse(cfg, *made, k20240301, broken)) ==
          "error: HMAC-SHA1 failed (0 bytes, want 20)");
}

TEST_CASE("is_srs_address", "[srs]") {
    struct Case {
        std::string in;
        bool want;
    };
    const std::vector<Case> cases = {
        {"SRS0=abcd=AB=x.com=u@y", true},
        {"srs0+abcd=AB=x.com=u@y", true},
        {"SRS1-x@y", true},
        {"SRS0@y", false},
        {"SRS0x=a@y", false},
        {"alice@y", false},
        {"SRS1=", true},
        {"", false},
    };
    for (const auto& c : cases) {
        INFO(c.in);
        CHECK(is_srs_address(c.in) == c.want);
    }
}
