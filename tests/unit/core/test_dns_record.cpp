// test_dns_record.cpp - DKIM key records and zone-file TXT text
// (core/dkim/dns_record.hpp): names, record tags, verdicts, splitting into
// character-strings, and reading master-file text back.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/dkim/dns_record.hpp"

using namespace staffel::core;

namespace {

// A p= value of `n` base64 characters (n a multiple of 4).
std::string fake_p(std::size_t n) {
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += alphabet[(i * 7) % alphabet.size()];
    }
    return out;
}

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) {
        out += p;
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------- names

TEST_CASE("domains are LDH names, returned lower-case without the dot", "[dns_record]") {
    const std::string label63(63, 'a');
    struct Case {
        std::string text;
        std::string want;
    };
    const Case good[] = {
        {"example.com", "example.com"},
        {"Example.COM.", "example.com"},
        {"xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"a-b.c0", "a-b.c0"},
        {"localhost", "localhost"},
        {std::string(63, 'a') + ".com", std::string(63, 'a') + ".com"},
        {label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b'),  // 253 bytes
         label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b')},
    };
    for (const auto& c : good) {
        INFO("input \"" << c.text << "\"");
        auto got = check_dkim_domain(c.text);
        REQUIRE(got.ok());
        CHECK(*got == c.want);
    }
    const std::string bad[] = {
        "",
        ".",
        "exa mple.com",
        "-a.com",
        "a-.com",
        "a..com",
        "a_b.com",
        ".a.com",
        "a.com..",
        "a/b.com",
        "é.com",
        std::string(64, 'a') + ".com",
        label63 + "." + label63 + "." + label63 + "." + std::string(62, 'b'),  // 254 bytes
    };
    for (const auto& text : bad) {
        INFO("input \"" << text << "\"");
        auto got = check_dkim_domain(text);
        REQUIRE_FALSE(got.ok());
        CHECK(got.error().message.find("bad domain") != std::string::npos);
    }
}

TEST_CASE("selectors are LDH names that may hold '_', case kept", "[dns_record]") {
    struct Case {
        std::string text;
        std::string want;
    };
    const Case good[] = {
        {"s2026", "s2026"}, {"S2026.", "S2026"}, {"a_b", "a_b"}, {"_x.y-z", "_x.y-z"}};
    for (const auto& c : good) {
        INFO("input \"" << c.text << "\"");
        auto got = check_dkim_selector(c.text);
        REQUIRE(got.ok());
        CHECK(*got == c.want);
    }
    for (const std::string text : {"", "s 1", "-s", "s-", "a..b", "s=1", "s;1"}) {
        INFO("input \"" << text << "\"");
        auto got = check_dkim_selector(text);
        REQUIRE_FALSE(got.ok());
        CHECK(got.error().message.find("bad selector") != std::string::npos);
    }
}

TEST_CASE("record names are normalised", "[dns_record]") {
    CHECK(dkim_record_name("S2026", "Example.COM.") == "s2026._domainkey.example.com");
    CHECK(normalize_dns_name("A.B.") == "a.b");
    CHECK(normalize_dns_name("a.b") == "a.b");
}

// ---------------------------------------------------------------- key records

TEST_CASE("keygen's strings are at most 255 bytes and make the record", "[dns_record]") {
    struct Case {
        DkimAlgorithm algorithm;
        std::size_t p_chars;
        std::size_t want_strings;
        const char* want_first;
    };
    const Case cases[] = {
        {DkimAlgorithm::Ed25519Sha256, 44, 2, "v=DKIM1; k=ed25519; "},
        {DkimAlgorithm::RsaSha256, 216, 2, "v=DKIM1; k=rsa; "},  // 1024 bits
        {DkimAlgorithm::RsaSha256, 392, 3, "v=DKIM1; k=rsa; "},  // 2048 bits
        {DkimAlgorithm::RsaSha256, 736, 4, "v=DKIM1; k=rsa; "},  // 4096 bits
        {DkimAlgorithm::RsaSha256, 253, 2, "v=DKIM1; k=rsa; "},  // "p=" + 253 = 255
        {DkimAlgorithm::RsaSha256, 256, 3, "v=DKIM1; k=rsa; "},
    };
    for (const auto& c : cases) {
        const auto p = fake_p(c.p_chars);
        const auto got = dkim_key_record_strings(c.algorithm, p);
        INFO("p of " << c.p_chars << " chars");
        CHECK(got.size() == c.want_strings);
        CHECK(got.front() == c.want_first);
        CHECK(got[1].starts_with("p="));
        for (const auto& s : got) {
            CHECK(s.size() <= kMaxCharacterString);
        }
        CHECK(join(got) == make_dkim_key_record(c.algorithm, p));
    }
    CHECK(make_dkim_key_record(DkimAlgorithm::RsaSha256, "QUJD") == "v=DKIM1; k=rsa; p=QUJD");
}

TEST_CASE("split_character_strings cuts at the limit", "[dns_record]") {
    struct Case {
        std::size_t length;
        std::vector<std::size_t> want;
    };
    const Case cases[] = {
        {0, {0}}, {1, {1}}, {255, {255}}, {256, {255, 1}}, {510, {255, 255}}, {511, {255, 255, 1}},
    };
    for (const auto& c : cases) {
        const std::string text(c.length, 'x');
        std::vector<std::size_t> got;
        for (const auto& s : split_character_strings(text)) {
            got.push_back(s.size());
        }
        INFO("length " << c.length);
        CHECK(got == c.want);
    }
    CHECK(split_character_strings("abcdefg", 3) == std::vector<std::string>{"abc", "def", "g"});
}

TEST_CASE("key records parse with defaults, spaces and unknown tags", "[dns_record]") {
    struct Case {
        const char* text;
        const char* want_k;
        const char* want_p;
        std::vector<std::string> want_h;
        std::vector<std::string> want_s;
    };
    const Case cases[] = {
        {"v=DKIM1; k=rsa; p=QUJD", "rsa", "QUJD", {}, {}},
        {"p=QUJD", "rsa", "QUJD", {}, {}},
        {" v = DKIM1 ;k=ed25519;p= QU JD\r\n\tRA== ; ", "ed25519", "QUJDRA==", {}, {}},
        {"v=DKIM1; p=; n=revoked in 2026", "rsa", "", {}, {}},
        {"v=DKIM1; h=sha1 : sha256; s=email; t=y:s; p=QUJD",
         "rsa",
         "QUJD",
         {"sha1", "sha256"},
         {"email"}},
        {"v=DKIM1;; x_note=any thing; k=foo; p=QUJDRA==;", "foo", "QUJDRA==", {}, {}},
    };
    for (const auto& c : cases) {
        INFO("record \"" << c.text << "\"");
        auto got = parse_dkim_key_record(c.text);
        REQUIRE(got.ok());
        CHECK(got->key_type == c.want_k);
        CHECK(got->public_key == c.want_p);
        CHECK(got->hash_algorithms == c.want_h);
        CHECK(got->service_types == c.want_s);
    }
}

TEST_CASE("bad key records are refused with a reason", "[dns_record]") {
    struct Case {
        const char* text;
        const char* want_words;
    };
    const Case cases[] = {
        {"k=rsa; v=DKIM1; p=QUJD", "v= must be the first"},
        {"v=DKIM2; p=QUJD", "v=DKIM2"},
        {"v=spf1 -all", "v=spf1"},
        {"v=DKIM1; k=rsa", "no p="},
        {"", "no p="},
        {"p=QUJD; p=QUJD", "twice"},
        {"p=QU*D", "not base64"},
        {"p=QUJ", "not base64"},
        {"p=Q=JD", "not base64"},
        {"v=DKIM1; garbage; p=QUJD", "\"garbage\""},
        {"1a=b; p=QUJD", "bad tag name"},
        {"x-y=b; p=QUJD", "bad tag name"},
        {"k=; p=QUJD", "empty k="},
    };
    for (const auto& c : cases) {
        INFO("record \"" << c.text << "\"");
        auto got = parse_dkim_key_record(c.text);
        REQUIRE_FALSE(got.ok());
        INFO("got: " << got.error().message << "; want words: " << c.want_words);
        CHECK(got.error().message.find(c.want_words) != std::string::npos);
    }
}

TEST_CASE("a record is compared with the key it should publish", "[dns_record]") {
    const auto rsa = DkimAlgorithm::RsaSha256;
    const auto ed = DkimAlgorithm::Ed25519Sha256;
    struct Case {
        const char* record;
        DkimAlgorithm algorithm;
        KeyRecordMatch want;
        const char* want_text;
    };
    const Case cases[] = {
        {"v=DKIM1; k=rsa; p=QUJD", rsa, KeyRecordMatch::Match, "match"},
        {"p=QU JD", rsa, KeyRecordMatch::Match, "match"},
        {"v=DKIM1; k=ed25519; p=QUJD", ed, KeyRecordMatch::Match, "match"},
        {"v=DKIM1; h=sha256; s=email:tlsrpt; p=QUJD", rsa, KeyRecordMatch::Match, "match"},
        {"v=DKIM1; s=*; p=QUJD", rsa, KeyRecordMatch::Match, "match"},
        {"v=DKIM1; k=rsa; p=QUJE", rsa, KeyRecordMatch::Mismatch,
         "MISMATCH: the published p= is another key"},
        {"v=DKIM1; k=ed25519; p=QUJD", rsa, KeyRecordMatch::Mismatch,
         "MISMATCH: the record has k=ed25519, the key is rsa-sha256 (k=rsa)"},
        {"v=DKIM1; p=QUJD", ed, KeyRecordMatch::Mismatch,
         "the record has k=rsa, the key is ed25519-sha256 (k=ed25519)"},
        {"v=DKIM1; h=sha1; p=QUJD", rsa, KeyRecordMatch::Mismatch, "h=sha1 does not allow sha256"},
        {"v=DKIM1; s=tlsrpt; p=QUJD", rsa, KeyRecordMatch::Mismatch, "s=tlsrpt does not allow"},
        {"v=DKIM1; k=rsa; p=", rsa, KeyRecordMatch::Revoked, "revoked (empty p=)"},
        {"v=DKIM1; k=ed25519; p=", rsa, KeyRecordMatch::Revoked, "revoked (empty p=)"},
        {"v=DKIM1; k=rsa", rsa, KeyRecordMatch::Invalid, "record invalid: no p= tag"},
    };
    for (const auto& c : cases) {
        const auto got = check_dkim_key_record(c.record, c.algorithm, "QUJD");
        INFO("record \"" << c.record << "\": got \"" << got.to_string() << "\", want \""
                         << c.want_text << "\"");
        CHECK(got.match == c.want);
        CHECK(got.to_string().find(c.want_text) != std::string::npos);
    }
}

TEST_CASE("several records at one name: one match is enough", "[dns_record]") {
    const auto rsa = DkimAlgorithm::RsaSha256;
    CHECK(check_dkim_key_records({"v=spf1 -all", "p=QUJD"}, rsa, "QUJD").match ==
          KeyRecordMatch::Match);
    const auto other = check_dkim_key_records({"v=spf1 -all", "p=QUJE"}, rsa, "QUJD");
    CHECK(other.match == KeyRecordMatch::Mismatch);
    CHECK(other.to_string() ==
          "MISMATCH: the published p= is another key; 2 TXT records at the name, none matches");
    const auto revoked = check_dkim_key_records({"p=", "junk"}, rsa, "QUJD");
    CHECK(revoked.to_string() == "revoked (empty p=); 2 TXT records at the name, none matches");
    CHECK(check_dkim_key_records({"junk"}, rsa, "QUJD").match == KeyRecordMatch::Invalid);
    CHECK(check_dkim_key_records({}, rsa, "QUJD").match == KeyRecordMatch::Invalid);
}

// ---------------------------------------------------------------- zone text

TEST_CASE("format_zone_txt prints a record ready to paste", "[dns_record]") {
    CHECK(format_zone_txt("s1._domainkey.example.com", {"v=DKIM1; k=rsa; ", "p=QUJD"}) ==
          "s1._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; \"\n"
          "    \"p=QUJD\" )\n");
    CHECK(format_zone_txt("a.example.", {"q\"b\\s\x01\x7f"}) ==
          "a.example. IN TXT ( \"q\\\"b\\\\s\\001\\127\" )\n");
}

TEST_CASE("zone text written by format_zone_txt reads back", "[dns_record]") {
    for (const std::size_t n : {44, 392, 736}) {
        const auto p = fake_p(n);
        const auto strings = dkim_key_record_strings(DkimAlgorithm::RsaSha256, p);
        const auto text = format_zone_txt("S1._domainkey.Example.com", strings) +
                          format_zone_txt("x.example", {"a\"b\\c\x02"});
        auto got = parse_zone_txt(text);
        INFO(text);
        REQUIRE(got.ok());
        REQUIRE(got->size() == 2);
        CHECK((*got)[0].name == "s1._domainkey.example.com");
        CHECK((*got)[0].text == make_dkim_key_record(DkimAlgorithm::RsaSha256, p));
        CHECK((*got)[0].line == 1);
        CHECK((*got)[1].name == "x.example");
        CHECK((*got)[1].text == "a\"b\\c\x02");
    }
}

TEST_CASE("zone files: directives, comments, owners, other types", "[dns_record]") {
    const char* zone =
        "; a zone as admins keep it\n"
        "$ORIGIN example.com.\n"
        "$TTL 1h\n"
        "@            IN SOA ns1 hostmaster ( 1 7200 3600 ; serial, refresh, retry\n"
        "                                   1209600 3600 )\n"
        "             IN MX 10 mail\n"
        "s2026._domainkey 300 IN TXT ( \"v=DKIM1; k=rsa; \"   ; first part\n"
        "    \"p=QUJD\"\n"
        "    \"RA==\" )\n"
        "E2026._domainkey.example.com. IN 600 txt \"v=DKIM1; k=ed25519; p=AAAA\"\n"
        "other.example.net. TXT \"a\\\"b\" \"c\\\\d\\065\"\n"
        "\t\tTXT \"second; at other\"\r\n"
        "relative TXT unquoted-word \"\"\n"
        "www A 192.0.2.1\n";
    struct Want {
        const char* name;
        const char* text;
        std::size_t line;
    };
    const Want want[] = {
        {"s2026._domainkey.example.com", "v=DKIM1; k=rsa; p=QUJDRA==", 7},
        {"e2026._domainkey.example.com", "v=DKIM1; k=ed25519; p=AAAA", 10},
        {"other.example.net", "a\"bc\\dA", 11},
        {"other.example.net", "second; at other", 12},
        {"relative.example.com", "unquoted-word", 13},
    };
    auto got = parse_zone_txt(zone);
    REQUIRE(got.ok());
    REQUIRE(got->size() == std::size(want));
    for (std::size_t i = 0; i < std::size(want); ++i) {
        INFO("record " << i << ": got " << (*got)[i].name << " \"" << (*got)[i].text << "\" line "
                       << (*got)[i].line);
        CHECK((*got)[i].name == want[i].name);
        CHECK((*got)[i].text == want[i].text);
        CHECK((*got)[i].line == want[i].line);
    }
}

TEST_CASE("without $ORIGIN, names are taken as written", "[dns_record]") {
    auto got = parse_zone_txt("s1._domainkey.example.com IN TXT \"p=QUJD\"\n");
    REQUIRE(got.ok());
    REQUIRE(got->size() == 1);
    CHECK((*got)[0].name == "s1._domainkey.example.com");
    CHECK(parse_zone_txt("")->empty());
    CHECK(parse_zone_txt("; only a comment\n\n   \n")->empty());
}

TEST_CASE("broken zone text is refused at its line", "[dns_record]") {
    struct Case {
        std::string zone;
        const char* want;
    };
    const Case cases[] = {
        {"x TXT \"abc\n", "line 1: unterminated quoted string"},
        {"x TXT ( \"a\"\n\"b\"\n", "line 1: '(' is never closed"},
        {"x TXT \"a\" )\n", "line 1: ')' without '('"},
        {"\n\nx TXT\n", "line 3: TXT record without text"},
        {"x\n", "line 1: no record type"},
        {"x IN 300 \"a\"\n", "line 1: no record type"},
        {"$INCLUDE other.zone\n", "line 1: $INCLUDE is not supported"},
        {"$ORIGIN\n", "line 1: $ORIGIN without a name"},
        {"  TXT \"a\"\n", "line 1: no owner name"},
        {"@ TXT \"a\"\n", "line 1: '@' without $ORIGIN"},
        {"x TXT \"\\999\"\n", "line 1: escape \\999 is over \\255"},
        {"x TXT \"a\\\n", "line 1: '\\' at the end of a line"},
        {"x TXT \"" + std::string(256, 'a') + "\"\n", "line 1: a character-string of 256 bytes"},
    };
    for (const auto& c : cases) {
        auto got = parse_zone_txt(c.zone);
        INFO("zone \"" << c.zone << "\"");
        REQUIRE_FALSE(got.ok());
        INFO("got \"" << got.error().message << "\", want \"" << c.want << "\"");
        CHECK(got.error().message.starts_with(c.want));
    }
}
