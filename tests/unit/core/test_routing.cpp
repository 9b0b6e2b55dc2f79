// test_routing.cpp - [[stream]] rules, [[route]] return paths and header
// templates, and the policy checks that tie them together.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "../policy_text.hpp"
#include "config/loader.hpp"
#include "core/route/route.hpp"
#include "core/route/streams.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

using test::load_error;
using test::policy_from;

}  // namespace

TEST_CASE("globs match case-insensitively with * and ?", "[routing]") {
    struct Case {
        const char* glob;
        const char* text;
        bool want;
    };
    const Case cases[] = {
        {"bulk", "BULK", true},
        {"bulk", "bulky", false},
        {"b*", "bulk", true},
        {"*", "", true},
        {"?ulk", "bulk", true},
        {"?ulk", "ulk", false},
        {"a*b*c", "aXXbYYc", true},
        {"a*b*c", "aXXbYY", false},
        {"*list*", "my-list-id", true},
        {"", "", true},
        {"", "x", false},
    };
    for (const auto& c : cases) {
        CAPTURE(c.glob, c.text);
        CHECK(glob_matches(c.glob, c.text) == c.want);
    }
}

TEST_CASE("stream rules: first match wins, every condition must hold", "[routing]") {
    auto p = policy_from(R"(
[routing]
default_stream = "other"
[[stream]]
name = "marketing"
sasl_users = ["news@example.com"]
min_recipients = 2
route = "esp"
[[stream]]
name = "bulk"
headers = ["Precedence: bulk", "List-Id"]
[[stream]]
name = "alerts"
senders = ["*.ops.example.com"]
networks = ["10.0.0.0/8"]
[[stream]]
name = "submission"
daemon_names = ["submission"]
[[route]]
name = "esp"
bounce_domain = "bounce.esp.example"
)");
    const auto& rules = p->routing.streams;
    std::vector<HeaderField> none;
    std::vector<HeaderField> bulk{{"Precedence", " Bulk\r\n"}};
    std::vector<HeaderField> list{{"List-ID", " <x.example.com>"}};
    struct Case {
        StreamInput in;
        const char* stream;
        const char* route;
    };
    const Case cases[] = {
        {{{.sasl_user = "news@example.com", .client_ip = "192.0.2.1", .address = "a@example.com"},
          &none,
          2},
         "marketing",
         "esp"},
        // One recipient: the min_recipients condition fails, next rule.
        {{{.sasl_user = "news@example.com", .client_ip = "192.0.2.1", .address = "a@example.com"},
          &bulk,
          1},
         "bulk",
         ""},
        {{{.client_ip = "192.0.2.1", .address = "a@example.com"}, &list, 1}, "bulk", ""},
        {{{.client_ip = "10.1.2.3", .address = "x@db.ops.example.com"}, &none, 1}, "alerts", ""},
        // Sender matches but the network does not.
        {{{.client_ip = "192.0.2.1", .address = "x@db.ops.example.com"}, &none, 1}, "other", ""},
        {{{.client_ip = "192.0.2.1", .address = "a@example.com", .daemon_name = "submission"},
          &none,
          1},
         "submission",
         ""},
        {{{.client_ip = "192.0.2.1"}, &none, 1}, "other", ""},
    };
    for (const auto& c : cases) {
        CAPTURE(c.in.sender.sasl_user, c.in.sender.address, c.in.sender.client_ip, c.in.recipients);
        auto got = classify(rules, p->routing.default_stream, c.in);
        CHECK(got.stream == c.stream);
        CHECK(got.route == c.route);
    }
    // Without rules, the built-in classification.
    CHECK(classify({}, "x", {{.address = "a@example.com"}, &bulk, 1}).stream == "bulk");
    CHECK(classify({}, "x", {{.address = "a@example.com"}, &none, 1}).stream == "transactional");
}

TEST_CASE("return paths: plain, VERP for one recipient, keep, null sender", "[routing]") {
    Route r;
    r.bounce_domain = "bounce.example.com";
    std::vector<std::string> one{"bob@example.net"};
    std::vector<std::string> two{"a@example.net", "b@example.net"};
    CHECK(route_sender(r, {"app@example.com", &one}) == "bounces@bounce.example.com");
    r.return_path = ReturnPath::Verp;
    CHECK(route_sender(r, {"app@example.com", &one}) ==
          "bounces+bob=example.net@bounce.example.com");
    CHECK(route_sender(r, {"app@example.com", &two}) == "bounces@bounce.example.com");
    CHECK_FALSE(route_sender(r, {"", &one}));  // bounces stay bounces
    r.return_path = ReturnPath::Keep;
    CHECK_FALSE(route_sender(r, {"app@example.com", &one}));
}

TEST_CASE("VERP return paths decode to the recipient they encode", "[routing][verp]") {
    Route r;
    r.bounce_domain = "bounce.example.com";
    r.return_path = ReturnPath::Verp;
    for (const char* rcpt :
         {"bob@example.net", "a+tag@example.org", "\"a=b\"@example.org", "\"x@y\"@example.org"}) {
        const std::vector<std::string> one{rcpt};
        const auto sender = route_sender(r, {"app@example.com", &one});
        REQUIRE(sender);
        CHECK(verp_decode(*sender) == rcpt);
    }
    CHECK(verp_decode("bounces+bob=example.org@b.example") == "bob@example.org");
    CHECK_FALSE(verp_decode("bounces@b.example"));
    CHECK_FALSE(verp_decode("bounces+=x@b.example"));
    CHECK_FALSE(verp_decode("bounces+x=@b.example"));
    // Found by fuzzing (tests/fuzz/corpus/verp/regress_domain_with_at): an
    // '@' after the last '=' made a "recipient" whose domain held '@'.
    CHECK_FALSE(verp_decode("=@@bounces+\xff\xff\xff\xff=@@bounces+n@x"));
    CHECK_FALSE(verp_decode("bounces+bob=@@b.example"));
    CHECK_FALSE(verp_decode("bounces+bob=ex@mple.org@b.example"));
}

TEST_CASE("header templates expand fields, stream and route; line breaks are removed",
          "[routing]") {
    std::vector<HeaderField> fields{{"X-Campaign-Id", " nov-2026 \r\n"},
                                    {"X-Evil", " a\r\nInjected: yes"}};
    TemplateInput in{&fields, "bulk", "esp", "app@shop.example", "nov-2026"};
    CHECK(expand_template("{header:x-campaign-id}/{stream}/{route}/{sender_domain}", in) ==
          "nov-2026/bulk/esp/shop.example");
    CHECK(expand_template("[{header:Missing}]", in) == "[]");
    const auto evil = expand_template("{header:X-Evil}", in);
    CHECK(evil.find('\n') == std::string::npos);
    CHECK(evil.find('\r') == std::string::npos);
    CHECK(expand_template(std::string(2000, 'x'), in).size() == 998);
    CHECK(check_template("{header:X}{stream}"));
    CHECK_FALSE(check_template("{nope}"));
    CHECK_FALSE(check_template("{stream"));
}

TEST_CASE("the bulk-sender gate adds, refuses or reports missing unsubscribe fields", "[routing]") {
    StreamRule rule;
    rule.name = "bulk";
    std::vector<HeaderField> none{{"Subject", " x"}};
    std::vector<HeaderField> list_only{{"List-Unsubscribe", " <mailto:u@example.com>"}};
    std::vector<HeaderField> both{{"list-unsubscribe", " <https://e.example/u>"},
                                  {"List-Unsubscribe-Post", " List-Unsubscribe=One-Click"}};
    CHECK(unsubscribe_gate(&rule, none, "").log.empty());  // off
    CHECK(unsubscribe_gate(nullptr, none, "").log.empty());

    rule.unsubscribe = StreamRule::Unsubscribe::Add;
    auto added = unsubscribe_gate(&rule, none, "<https://e.example/u>");
    REQUIRE(added.add.size() == 2);
    CHECK(added.add[0].name == "List-Unsubscribe");
    CHECK(added.add[0].value == " <https://e.example/u>");
    CHECK(added.add[1].value == " List-Unsubscribe=One-Click");
    CHECK(added.log == "added");
    auto post_only = unsubscribe_gate(&rule, list_only, "<https://e.example/u>");
    REQUIRE(post_only.add.size() == 1);  // the sender's own List-Unsubscribe is kept
    CHECK(post_only.add[0].name == "List-Unsubscribe-Post");
    CHECK_FALSE(unsubscribe_gate(&rule, both, "x").missing);

    rule.unsubscribe = StreamRule::Unsubscribe::Refuse;
    auto refused = unsubscribe_gate(&rule, list_only, "");
    CHECK(refused.refuse);
    CHECK(refused.add.empty());
    rule.unsubscribe = StreamRule::Unsubscribe::Report;
    auto reported = unsubscribe_gate(&rule, none, "");
    CHECK_FALSE(reported.refuse);
    CHECK(reported.log == "missing");

    CHECK_THAT(load_error("[[stream]]\nname = \"b\"\nheaders = [\"List-Id\"]\n"
                          "unsubscribe = \"add\"\n"),
               Catch::Contains("needs unsubscribe_template"));
    CHECK_THAT(
        load_error("[[stream]]\nname = \"b\"\nheaders = [\"List-Id\"]\n"
                   "unsubscribe = \"add\"\nunsubscribe_template = \"<mailto:u@x.example>\"\n"),
        Catch::Contains("needs an <https://...> URI"));
}
