// test_org_domain.cpp - adapters/psl/org_domain: organisational domains
// from Debian's Public Suffix List through libpsl, as the DMARC prediction
// uses them.
#include <catch2/catch.hpp>

#include "adapters/psl/org_domain.hpp"
#include "core/route/dmarc.hpp"

using namespace staffel;
using namespace staffel::core;

TEST_CASE("libpsl gives organisational domains from the Public Suffix List", "[dmarc][psl]") {
    auto list = adapters::PublicSuffixList::load();
    REQUIRE(list);
    const auto org = adapters::PublicSuffixList::function(*list);
    CHECK(org("example.com") == "example.com");
    CHECK(org("a.b.mail.example.com") == "example.com");
    CHECK(org("shop.example.co.uk") == "example.co.uk");
    CHECK(org("co.uk").empty());
    CHECK(org("com").empty());
    // Private-section suffixes count too: two GitHub Pages sites are two organisations.
    CHECK(org("alice.github.io") == "alice.github.io");
    CHECK(org("").empty());
    CHECK(domains_align("news.example.co.uk", "example.co.uk", DmarcAlignment::Relaxed, org));
    CHECK_FALSE(domains_align("alice.github.io", "bob.github.io", DmarcAlignment::Relaxed, org));
}
