// test_dkim_sign.cpp - header selection, over-signing, folding, the signing
// table and authorisation, and the bytes a key is asked to sign.
#include <catch2/catch.hpp>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/openssl/dkim_keys.hpp"
#include "core/dkim/sign.hpp"
#include "core/dkim/table.hpp"
#include "core/headers.hpp"

using namespace staffel::core;

namespace {

// Records what it is asked to sign; returns a fixed signature.
struct RecordingKey : SigningKey {
    DkimAlgorithm alg;
    mutable std::vector<std::string> signed_data;
    explicit RecordingKey(DkimAlgorithm a = DkimAlgorithm::RsaSha256) : alg(a) {}
    [[nodiscard]] DkimAlgorithm algorithm() const override { return alg; }
    [[nodiscard]] Result<std::string> sign(std::string_view data) const override {
        signed_data.emplace_back(data);
        return std::string(alg == DkimAlgorithm::RsaSha256 ? 256 : 64, '\x5a');
    }
};

std::vector<HeaderField> sample_headers() {
    return {{"Received", " from x by y"}, {"From", " Alice <alice@example.com>"},
            {"To", " bob@example.net"},   {"Subject", " first"},
            {"subject", " second"},       {"Date", " Mon, 23 Nov 2026 10:00:00 +0000"},
            {"X-Mailer", " test"}};
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        const auto end = text.find("\r\n", start);
        out.push_back(text.substr(start, end - start));
        if (end == std::string::npos) {
            return out;
        }
        start = end + 2;
    }
}

}  // namespace

TEST_CASE("h= lists present headers, repeats, and over-signs", "[dkim][sign]") {
    const auto fields = sample_headers();
    SECTION("defaults: over-signed names appear once more than present, absent ones once") {
        const auto sign = DkimSettings::default_sign_headers();
        const auto oversign = DkimSettings::default_oversign_headers();
        const auto h = select_signed_headers(fields, sign, oversign);
        std::string joined;
        for (const auto& n : h) {
            joined += n + ":";
        }
        CHECK(joined ==
              "from:from:reply-to:subject:subject:subject:date:date:to:to:cc:list-unsubscribe:"
              "message-id:mime-version:content-type:list-unsubscribe-post:");
    }
    SECTION("no over-signing: only what is present, as often as present") {
        const std::vector<std::string> sign{"From", "Subject", "Cc", "X-Mailer"};
        const auto h = select_signed_headers(fields, sign, {});
        CHECK(h == std::vector<std::string>{"from", "subject", "subject", "x-mailer"});
    }
    SECTION("a name only in the over-sign list is signed too") {
        const std::vector<std::string> sign{"From"};
        const std::vector<std::string> oversign{"To"};
        const auto h = select_signed_headers(fields, sign, oversign);
        CHECK(h == std::vector<std::string>{"from", "to", "to"});
    }
}

TEST_CASE("repeated headers are taken bottom-up; over-signed entries add nothing", "[dkim][sign]") {
    std::string out;
    append_selected_headers(sample_headers(), {"subject", "subject", "subject", "from"},
                            Canon::Relaxed, out);
    CHECK(out == "subject:second\r\nsubject:first\r\nfrom:Alice <alice@example.com>\r\n");
}

TEST_CASE("author domain from From:", "[dkim][from]") {
    struct Case {
        const char* value;
        bool ok;
        const char* domain_or_problem;
    };
    const Case cases[] = {
        {" alice@Example.COM", true, "example.com"},
        {" \"Alice\" <alice@example.com>", true, "example.com"},
        {" bob@evil.example <alice@example.com>", true, "example.com"},
        {" \"x@evil.example\" <alice@example.com>", true, "example.com"},
        {" alice@example.com (Alice @ evil.example)", true, "example.com"},
        {" Team: a@example.com, b@example.com;", true, "example.com"},
        {"\r\n\talice@example.com.", true, "example.com"},
        {" a@example.com, b@example.org", false, "from-several-domains"},
        {" alice@[192.0.2.1]", false, "unparsable-from"},
        {" undisclosed", false, "unparsable-from"},
        {" <alice@example.com", false, "unparsable-from"},
        {" (unclosed comment alice@example.com", false, "unparsable-from"},
    };
    for (const auto& c : cases) {
        INFO(c.value);
        const auto a = mailbox_list_domain(c.value);
        CHECK(a.ok == c.ok);
        CHECK((a.ok ? a.domain : std::string(to_string(a.problem))) == c.domain_or_problem);
    }
    CHECK(to_string(author_domain({{"To", " x@y"}}).problem) == std::string("no-from"));
    CHECK(to_string(author_domain({{"From", " a@x.example"}, {"FROM", " b@x.example"}}).problem) ==
          std::string("several-from"));
}

TEST_CASE("header collection is bounded", "[dkim][headers]") {
    HeaderCollector c(3, 1000);
    CHECK(c.add("A", " 1"));
    CHECK(c.add("B", " 2"));
    CHECK(c.add("C", " 3"));
    CHECK_FALSE(c.add("D", " 4"));
    CHECK(c.overflowed());
    CHECK(c.fields().size() == 3);
    HeaderCollector bytes(100, 20);
    CHECK(bytes.add("Subject", " 12345"));              // 7 + 6 + 3 = 16
    CHECK_FALSE(bytes.add("X", std::string(10, 'x')));  // would be 30
    CHECK(bytes.overflowed());
}

TEST_CASE("signature fields fold within 78 columns, b= last and empty while hashing",
          "[dkim][sign]") {
    std::vector<std::pair<std::string, std::string>> tags{
        {"v", "1"},
        {"a", "rsa-sha256"},
        {"c", "relaxed/relaxed"},
        {"d", "example.com"},
        {"s", "s2026"},
        {"t", "1795428000"},
        {"h",
         "from:from:reply-to:subject:subject:date:date:to:to:cc:message-id:mime-version:"
         "content-type:list-unsubscribe:list-unsubscribe-post"},
        {"bh", std::string(44, 'B')}};
    const auto unsigned_value = fold_signature(tags, {});
    const auto value = fold_signature(tags, std::string(344, 'S'));
    REQUIRE(value.starts_with(unsigned_value));  // b= is appended, nothing before it moves
    CHECK(unsigned_value.ends_with("\r\n\tb="));
    const auto lines = lines_of("DKIM-Signature:" + value);
    CHECK(lines.size() >= 7);
    for (const auto& l : lines) {
        INFO(l);
        CHECK(l.size() <= 78);
        CHECK_FALSE(l.empty());
    }
    CHECK(lines[0] ==
          "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s2026;");
    CHECK(lines[1].starts_with("\tt=1795428000; h=from:from:reply-to:"));
    // Unfolded, the tags read as written.
    std::string unfolded;
    for (const auto& l : lines) {
        unfolded += l.starts_with("\t") ? l.substr(1) : l;
    }
    CHECK(unfolded.find("h=from:from:reply-to:") != std::string::npos);
    CHECK(unfolded.find("bh=" + std::string(44, 'B') + ";") != std::string::npos);
    CHECK(unfolded.ends_with("b=" + std::string(344, 'S')));
}

TEST_CASE("base64", "[dkim]") {
    CHECK(base64("") == "");
    CHECK(base64("f") == "Zg==");
    CHECK(base64("fo") == "Zm8=");
    CHECK(base64("foo") == "Zm9v");
    CHECK(base64("foobar") == "Zm9vYmFy");
}

TEST_CASE("the key signs the selected headers and the signature field with empty b=",
          "[dkim][sign]") {
    auto key = std::make_shared<RecordingKey>();
    MessageSigner signer(staffel::adapters::sha256_factory(),
                         {{"example.com", "s1", key, {Canon::Relaxed, Canon::Relaxed}}});
    signer.body("Hello  world \r\n\r\n\r\n");
    SignOptions o;
    o.now = 1795428000;
    o.expire = std::chrono::seconds(86400);
    const std::vector<std::string> sign{"From", "Subject"};
    const std::vector<std::string> oversign{"From"};
    o.sign_headers = sign;
    o.oversign_headers = oversign;
    auto fields = signer.sign(sample_headers(), o);
    REQUIRE(fields.ok());
    REQUIRE(fields->size() == 1);
    const auto& f = (*fields)[0];
    CHECK(f.domain == "example.com");
    REQUIRE(key->signed_data.size() == 1);
    // Relaxed body "Hello world\r\n": printf 'Hello world\r\n' | openssl dgst
    // -sha256 -binary | base64.
    const std::string bh = "bh=yGIXoM91E1DiKjvCBcC8NlWyw54TdfMQ08sdtwtOO4I=;";
    CHECK(key->signed_data[0] ==
          "from:Alice <alice@example.com>\r\n"
          "subject:second\r\n"
          "subject:first\r\n"
          "dkim-signature:v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1; "
          "t=1795428000; x=1795514400; h=from:from:subject:subject; " +
              bh + " b=");
    CHECK(f.value.find("x=1795514400;") != std::string::npos);
    CHECK(f.value.find("l=") == std::string::npos);
}

TEST_CASE("one body hash serves every signature sharing a canonicalisation", "[dkim][sign]") {
    auto rsa = std::make_shared<RecordingKey>(DkimAlgorithm::RsaSha256);
    auto ed = std::make_shared<RecordingKey>(DkimAlgorithm::Ed25519Sha256);
    auto simple = std::make_shared<RecordingKey>(DkimAlgorithm::RsaSha256);
    MessageSigner signer(staffel::adapters::sha256_factory(),
                         {{"example.com", "rsa", rsa, {Canon::Relaxed, Canon::Relaxed}},
                          {"example.com", "ed", ed, {Canon::Relaxed, Canon::Relaxed}},
                          {"example.com", "simple", simple, {Canon::Simple, Canon::Simple}}});
    signer.body("a  b\r\n");
    SignOptions o;
    const std::vector<std::string> sign{"From"};
    o.sign_headers = sign;
    auto fields = signer.sign(sample_headers(), o);
    REQUIRE(fields.ok());
    REQUIRE(fields->size() == 3);
    const auto bh_of = [](const std::string& v) {
        std::string unfolded;
        for (char c : v) {
            if (c != '\r' && c != '\n' && c != '\t') {
                unfolded += c;
            }
        }
        const auto at = unfolded.find("bh=");
        return unfolded.substr(at, unfolded.find(';', at) - at);
    };
    CHECK(bh_of((*fields)[0].value) == bh_of((*fields)[1].value));
    CHECK(bh_of((*fields)[0].value) != bh_of((*fields)[2].value));
    CHECK((*fields)[1].value.find("a=ed25519-sha256;") != std::string::npos);
    CHECK(simple->signed_data[0].starts_with("From: Alice <alice@example.com>\r\n"));
}

TEST_CASE("signing table: exact domain, then parents covering subdomains", "[dkim][table]") {
    DkimSettings d;
    auto k = std::make_shared<RecordingKey>();
    d.keys.push_back(
        {"example.com", "s1", DkimAlgorithm::RsaSha256, "/k1", false, {}, "", k, {}, {}});
    d.keys.push_back(
        {"example.com", "s2", DkimAlgorithm::Ed25519Sha256, "/k2", false, {}, "", k, {}, {}});
    d.keys.push_back(
        {"corp.example", "c", DkimAlgorithm::RsaSha256, "/k3", true, {}, "", k, {}, {}});
    const Sender local{.client_ip = "127.0.0.1"};
    const auto decide = [&](const char* from) {
        return decide_signatures(d, local, mailbox_list_domain(from), 0);
    };
    CHECK(decide(" a@example.com").specs.size() == 2);  // RSA and Ed25519
    CHECK(decide(" a@sub.example.com").reason == "no-key:sub.example.com");
    auto sub = decide(" a@mail.eu.corp.example");
    REQUIRE(sub.specs.size() == 1);
    CHECK(sub.specs[0].domain == "corp.example");
    CHECK(decide(" a@other.example").reason == "no-key:other.example");
    CHECK(decide(" a@x.example, b@y.example").reason == "from-several-domains");
}

TEST_CASE("authorisation: rules, SASL users, trusted networks", "[dkim][table]") {
    DkimSettings d;
    auto k = std::make_shared<RecordingKey>();
    d.keys.push_back(
        {"tenant-a.example", "s", DkimAlgorithm::RsaSha256, "/a", false, {}, "", k, {}, {}});
    d.keys.push_back(
        {"tenant-b.example", "s", DkimAlgorithm::RsaSha256, "/b", false, {}, "", k, {}, {}});
    const auto a = mailbox_list_domain(" x@tenant-a.example");
    const auto b = mailbox_list_domain(" x@tenant-b.example");
    const auto may = [&](const Sender& who, const AuthorDomain& from) {
        return !decide_signatures(d, who, from, 0).specs.empty();
    };
    // Defaults: loopback may sign anything; a stranger nothing; a SASL user
    // only the domain of its login.
    CHECK(may({.client_ip = "127.0.0.1"}, a));
    CHECK(may({.client_ip = "::1"}, b));
    CHECK_FALSE(may({.client_ip = "192.0.2.9"}, a));
    CHECK(decide_signatures(d, {.client_ip = "192.0.2.9"}, a, 0).reason ==
          "not-allowed:tenant-a.example");
    CHECK(may({.sasl_user = "user@tenant-a.example", .client_ip = "198.51.100.1"}, a));
    CHECK_FALSE(may({.sasl_user = "user@tenant-a.example", .client_ip = "198.51.100.1"}, b));
    CHECK_FALSE(may({.sasl_user = "user@tenant-a.example", .client_ip = "127.0.0.1"},
                    b));  // SASL decides, not the network
    CHECK_FALSE(may({.sasl_user = "user", .client_ip = "127.0.0.1"}, a));
    d.authenticated = DkimAuthenticated::Any;
    CHECK(may({.sasl_user = "user", .client_ip = "198.51.100.1"}, b));
    d.authenticated = DkimAuthenticated::None;
    CHECK_FALSE(may({.sasl_user = "user@tenant-a.example", .client_ip = "198.51.100.1"}, a));
    // Rules come first.
    d.senders.push_back({"*@tenant-b.example", {}, {"tenant-b.example"}});
    d.senders.push_back({"", {*parse_network("10.2.0.0/16")}, {"*.example", "tenant-a.example"}});
    CHECK(may({.sasl_user = "bob@tenant-b.example", .client_ip = "198.51.100.1"}, b));
    CHECK_FALSE(may({.sasl_user = "bob@tenant-b.example", .client_ip = "10.2.3.4"},
                    a));  // first matching rule wins
    CHECK(may({.client_ip = "10.2.3.4"}, a));
    CHECK_FALSE(may({.client_ip = "127.0.0.1"}, mailbox_list_domain(" x@tenant-c.example")));
    CHECK(domain_pattern_matches("*.example.com", "a.example.com"));
    CHECK_FALSE(domain_pattern_matches("*.example.com", "example.com"));
    CHECK_FALSE(domain_pattern_matches("*.example.com", "badexample.com"));
}
