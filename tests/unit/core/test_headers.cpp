// test_headers.cpp - core/headers: the address-list parser and the author
// domain built on it.
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/headers.hpp"

using namespace staffel;

TEST_CASE("address lists give bare addresses; names, comments and groups are dropped",
          "[headers]") {
    using V = std::vector<std::string>;
    CHECK(core::parse_address_list(" a@example.com") == V{"a@example.com"});
    CHECK(core::parse_address_list(" Bob <bob@example.net>, \"Gone, Really\" <g@example.net>") ==
          V{"bob@example.net", "g@example.net"});
    CHECK(core::parse_address_list(" c@example.org (Carol, the boss),\r\n\td@example.org") ==
          V{"c@example.org", "d@example.org"});
    CHECK(core::parse_address_list(" team: x@example.com, y@example.com;, z@example.com") ==
          V{"x@example.com", "y@example.com", "z@example.com"});
    CHECK(core::parse_address_list(" undisclosed-recipients:;")->empty());
    CHECK(core::parse_address_list(" <>")->empty());
}

TEST_CASE("address lists: routes, quoted local parts, nested comments", "[headers]") {
    using V = std::vector<std::string>;
    CHECK(core::parse_address_list(" <@relay.example:a@example.com>") == V{"a@example.com"});
    CHECK(core::parse_address_list(" \"a, b\"@example.com, c@example.com") ==
          V{"\"a, b\"@example.com", "c@example.com"});
    CHECK(core::parse_address_list(" \"Bob \\\"B\\\"\" <bob@example.com>") == V{"bob@example.com"});
    CHECK(core::parse_address_list(" a@example.com (x (y) \\) z)") == V{"a@example.com"});
    CHECK(core::parse_address_list(" \"x@evil.example\" <x@good.example>") == V{"x@good.example"});
}

TEST_CASE("malformed address lists are refused, not guessed at", "[headers]") {
    for (const char* v : {" a@example.com)", " (open a@example.com", " \"open a@example.com",
                          " Bob <bob@example.com", " a@b.example: c@d.example;"}) {
        INFO(v);
        CHECK_FALSE(core::parse_address_list(v).has_value());
    }
}

TEST_CASE("the author domain is the one domain of the From: mailboxes", "[headers]") {
    CHECK(core::mailbox_list_domain(" Team: a@Example.COM., b@example.com;").domain ==
          "example.com");
    CHECK(core::mailbox_list_domain(" <@relay.example:a@example.com>").domain == "example.com");
    CHECK(core::mailbox_list_domain(" a@x.example, b@y.example").problem ==
          core::AuthorProblem::SeveralDomains);
    CHECK(core::mailbox_list_domain(" a@[192.0.2.1]").problem == core::AuthorProblem::Unparsable);
    CHECK(core::mailbox_list_domain(" a@b.example>").problem == core::AuthorProblem::Unparsable);
    CHECK(core::mailbox_list_domain(" undisclosed-recipients:;").problem ==
          core::AuthorProblem::Unparsable);
}

TEST_CASE("an author domain ending in an empty label is unparsable", "[headers]") {
    // Found by fuzzing (tests/fuzz/corpus/canon/regress_author_trailing_dot):
    // "example.." lost one dot and came out as the domain "example.".
    for (const char* v : {" a@example..", " <a@example.com..>", " a@.."}) {
        CAPTURE(v);
        const auto got = core::mailbox_list_domain(v);
        CHECK_FALSE(got.ok);
        CHECK(got.problem == core::AuthorProblem::Unparsable);
    }
    CHECK(core::mailbox_list_domain(" a@example.com.").domain == "example.com");
    const auto from = core::author_domain({{"From", " Ann <ann@example..>"}});
    CHECK_FALSE(from.ok);
}
