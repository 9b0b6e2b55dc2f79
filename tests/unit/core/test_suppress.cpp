// test_suppress.cpp - core/suppress: address normalisation, keys (plain and
// HMAC), the entry value codec. The session's decisions at RCPT and at the
// end of the message are in test_session_suppress.cpp.
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/idn/idna.hpp"
#include "adapters/openssl/dkim_keys.hpp"
#include "core/suppress/suppress.hpp"
#include "fake_suppression_store.hpp"

using namespace staffel;
using namespace staffel::core;

using test::entry;

TEST_CASE("addresses normalise to one form, or are refused with a reason", "[suppress]") {
    struct Case {
        const char* in;
        bool fold;
        const char* want;  // "" = refused
    };
    const Case cases[] = {
        {"Bob@Example.ORG", true, "bob@example.org"},
        {"Bob@Example.ORG", false, "Bob@example.org"},
        {" <bob@example.org> ", true, "bob@example.org"},
        {"bob@example.org.", true, "bob@example.org"},
        {"first.last+tag@sub.example.org", true, "first.last+tag@sub.example.org"},
        {"bob@b\xc3\xbc"
         "cher.example",
         true, "bob@xn--bcher-kva.example"},
        {"bob@XN--BCHER-KVA.example", true, "bob@xn--bcher-kva.example"},
        {"bob", true, ""},
        {"@example.org", true, ""},
        {"bob@", true, ""},
        {"bo b@example.org", true, ""},
        {"bob|x@example.org", true, ""},
        {"\"bob\"@example.org", true, ""},
        {"bob@exa mple.org", true, ""},
        {"bob@example..org", true, ""},
        {"bob@[192.0.2.1]", true, ""},
    };
    for (const auto& c : cases) {
        CAPTURE(c.in, c.fold);
        auto r = normalise_address(c.in, {c.fold}, adapters::domain_to_ascii);
        if (*c.want == '\0') {
            CHECK_FALSE(r);
        } else {
            REQUIRE(r);
            CHECK(*r == c.want);
        }
    }
    CHECK_FALSE(normalise_address(std::string(65, 'a') + "@example.org", {}));
    CHECK(normalise_address(std::string(64, 'a') + "@example.org", {}));
    // Without a converter an IDN cannot be looked up, and says so.
    auto no_idna = normalise_address(
        "bob@b\xc3\xbc"
        "cher.example",
        {});
    REQUIRE_FALSE(no_idna);
    CHECK_THAT(no_idna.error().message, Catch::Contains("not ASCII"));
}

TEST_CASE("HMAC-SHA-256 matches RFC 4231 and keys hide the address", "[suppress]") {
    const auto& sha = adapters::sha256_factory();
    // RFC 4231 test case 2.
    CHECK(hmac_sha256_hex(sha, "Jefe", "what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Test case 6: a key longer than the block is hashed first.
    CHECK(hmac_sha256_hex(sha, std::string(131, '\xaa'),
                          "Test Using Larger Than Block-Size Key - Hash Key First") ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    SuppressionKeys plain("staffel:");
    CHECK(plain.entry_key({}, "bob@example.org") == "staffel:s:*:bob@example.org");
    CHECK(plain.entry_key("shop.example", "bob@example.org") ==
          "staffel:s:shop.example:bob@example.org");
    CHECK(plain.soft_bounce_key("bob@example.org") == "staffel:sb:bob@example.org");
    auto parsed = plain.parse_key("staffel:s:shop.example:bob@example.org");
    REQUIRE(parsed);
    CHECK(parsed->first == "shop.example");
    CHECK(parsed->second == "bob@example.org");
    CHECK_FALSE(plain.parse_key("other:s:*:bob@example.org"));

    SuppressionKeys hashed("staffel:", "s3cret", &sha);
    const auto k = hashed.entry_key({}, "bob@example.org");
    CHECK(k == "staffel:s:*:h:" + hmac_sha256_hex(sha, "s3cret", "bob@example.org"));
    CHECK(k.find("bob") == std::string::npos);
    CHECK(hashed.entry_key({}, "bob@example.org") == k);  // stable
    CHECK(SuppressionKeys("staffel:", "other", &sha).entry_key({}, "bob@example.org") != k);
}

TEST_CASE("entry values round-trip and malformed ones are refused", "[suppress]") {
    auto e = entry(SuppressReason::Unsubscribe, {"bulk", "news"});
    e.expires_at = 1800000000;
    e.source = "import:list|x.csv:3";
    const auto v = encode_entry_value(e);
    CHECK(v == "1|unsubscribe|bulk,news|1763640000|1800000000|import:listx.csv:3");
    auto back = decode_entry_value(v);
    REQUIRE(back);
    CHECK(back->reason == SuppressReason::Unsubscribe);
    CHECK(back->streams == std::vector<std::string>{"bulk", "news"});
    CHECK(back->expires_at == 1800000000);
    CHECK(back->source == "import:listx.csv:3");
    CHECK(decode_entry_value("1|hard_bounce|*|1|0|dsn")->blocks_every_stream());
    for (const char* bad :
         {"", "1|hard_bounce|*|1", "2|hard_bounce|*|1|0|x", "1|bounced|*|1|0|x", "1|manual||1|0|x",
          "1|manual|a,,b|1|0|x", "1|manual|*|-5|0|x", "1|manual|*|1|soon|x"}) {
        CAPTURE(bad);
        CHECK_FALSE(decode_entry_value(bad));
    }
    CHECK(reply_for(SuppressReason::HardBounce).xcode == "5.1.1");
    CHECK(reply_for(SuppressReason::Invalid).xcode == "5.1.1");
    CHECK(reply_for(SuppressReason::Complaint).xcode == "5.7.1");
    CHECK(default_streams(SuppressReason::Unsubscribe, {"bulk"}) ==
          std::vector<std::string>{"bulk"});
    CHECK(default_streams(SuppressReason::Complaint, {"bulk"}).empty());
}
