// test_dkim_rotation.cpp - which of a domain's keys sign at a given time:
// not_before / not_after, [dkim] overlap, the route's keys, and the words
// staffelctl explain shows. The clock is a number passed in.
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dkim/table.hpp"
#include "core/headers.hpp"

using namespace staffel::core;

namespace {

struct NullKey : SigningKey {
    DkimAlgorithm alg;
    explicit NullKey(DkimAlgorithm a) : alg(a) {}
    [[nodiscard]] DkimAlgorithm algorithm() const override { return alg; }
    [[nodiscard]] Result<std::string> sign(std::string_view) const override {
        return std::string(64, 'x');
    }
};

constexpr std::int64_t kSwitch = 1'782'864'000;  // 2026-07-01T00:00:00Z
constexpr std::int64_t kDay = 86400;

DkimKeySpec key(const char* selector, DkimAlgorithm alg, std::optional<std::int64_t> not_before,
                std::optional<std::int64_t> not_after) {
    DkimKeySpec k;
    k.domain = "example.com";
    k.selector = selector;
    k.algorithm = alg;
    k.key = std::make_shared<NullKey>(alg);
    k.not_before = not_before;
    k.not_after = not_after;
    return k;
}

// The selectors that sign mail from example.com at `now`, joined by ",".
std::string signing(const DkimSettings& d, std::int64_t now,
                    const std::vector<std::string>& route_keys = {}) {
    const auto decision = decide_signatures(d, {.client_ip = "127.0.0.1"},
                                            mailbox_list_domain(" a@example.com"), now, route_keys);
    std::string out;
    for (const auto& s : decision.specs) {
        out += (out.empty() ? "" : ",") + s.selector;
    }
    return out.empty() ? "(none: " + decision.reason + ")" : out;
}

// The usual rotation: s2026 signs until the switch and is kept a week for
// mail in flight; s2026b signs from the switch on.
DkimSettings rotation(DkimOverlap overlap) {
    DkimSettings d;
    d.overlap = overlap;
    d.keys.push_back(key("s2026", DkimAlgorithm::RsaSha256, std::nullopt, kSwitch + 7 * kDay));
    d.keys.push_back(key("s2026b", DkimAlgorithm::RsaSha256, kSwitch, std::nullopt));
    return d;
}

}  // namespace

TEST_CASE("in force: from not_before (inclusive) to not_after (exclusive)", "[dkim][rotation]") {
    const auto k = key("s", DkimAlgorithm::RsaSha256, 100, 200);
    struct Case {
        std::int64_t now;
        bool want;
    };
    for (const auto& c : std::vector<Case>{{99, false}, {100, true}, {199, true}, {200, false}}) {
        INFO("now " << c.now);
        CHECK(k.in_force(c.now) == c.want);
    }
    CHECK(key("open", DkimAlgorithm::RsaSha256, std::nullopt, std::nullopt).in_force(-1));
}

TEST_CASE("rotation: before, at and after the switch, for each overlap", "[dkim][rotation]") {
    struct Case {
        DkimOverlap overlap;
        std::int64_t now;
        std::string want;
    };
    const std::vector<Case> cases{
        {DkimOverlap::Newest, kSwitch - 1, "s2026"},
        {DkimOverlap::Newest, kSwitch, "s2026b"},  // the newest in force wins
        {DkimOverlap::Newest, kSwitch + kDay, "s2026b"},
        {DkimOverlap::Newest, kSwitch + 7 * kDay, "s2026b"},
        {DkimOverlap::All, kSwitch - 1, "s2026"},
        {DkimOverlap::All, kSwitch, "s2026,s2026b"},  // both until the old one's not_after
        {DkimOverlap::All, kSwitch + 7 * kDay - 1, "s2026,s2026b"},
        {DkimOverlap::All, kSwitch + 7 * kDay, "s2026b"},
    };
    for (const auto& c : cases) {
        INFO("overlap " << (c.overlap == DkimOverlap::All ? "all" : "newest") << ", now " << c.now);
        CHECK(signing(rotation(c.overlap), c.now) == c.want);
    }
}

TEST_CASE("rotation: keys of another algorithm keep signing beside", "[dkim][rotation]") {
    auto d = rotation(DkimOverlap::Newest);
    d.keys.push_back(key("e2026", DkimAlgorithm::Ed25519Sha256, std::nullopt, std::nullopt));
    CHECK(signing(d, kSwitch - 1) == "s2026,e2026");
    CHECK(signing(d, kSwitch) == "s2026b,e2026");
    // Keys without times all sign, as before rotation existed.
    d.keys.push_back(key("other", DkimAlgorithm::Ed25519Sha256, std::nullopt, std::nullopt));
    CHECK(signing(d, kSwitch) == "s2026b,e2026,other");
}

TEST_CASE("rotation: no key in force, and the route's keys", "[dkim][rotation]") {
    DkimSettings future;
    future.keys.push_back(key("next", DkimAlgorithm::RsaSha256, kSwitch, std::nullopt));
    CHECK(signing(future, kSwitch - 1) == "(none: no-key-in-force:example.com)");
    DkimSettings retired;
    retired.keys.push_back(key("old", DkimAlgorithm::RsaSha256, std::nullopt, kSwitch));
    CHECK(signing(retired, kSwitch) == "(none: no-key-in-force:example.com)");
    // A route that names only the old key keeps it signing until its
    // not_after; one that names only the new key signs nothing before.
    const auto d = rotation(DkimOverlap::Newest);
    CHECK(signing(d, kSwitch + kDay, {"example.com/s2026"}) == "s2026");
    CHECK(signing(d, kSwitch + 7 * kDay, {"example.com/s2026"}) == "(none: not-on-route)");
    CHECK(signing(d, kSwitch - 1, {"example.com/s2026b"}) == "(none: not-on-route)");
}

TEST_CASE("rotation: explain says which key signs and why", "[dkim][rotation]") {
    const auto d = rotation(DkimOverlap::Newest);
    const auto notes = [&](std::int64_t now) {
        return decide_signatures(d, {.client_ip = "127.0.0.1"},
                                 mailbox_list_domain(" a@example.com"), now, {}, true)
            .notes;
    };
    CHECK(notes(kSwitch - 1) ==
          std::vector<std::string>{
              "d=example.com s=s2026 (rsa-sha256): signs, in force, until 2026-07-08T00:00:00Z",
              "d=example.com s=s2026b (rsa-sha256): does not sign, not yet: not_before "
              "2026-07-01T00:00:00Z"});
    CHECK(notes(kSwitch) ==
          std::vector<std::string>{
              "d=example.com s=s2026 (rsa-sha256): does not sign, the newer key s2026b does "
              "since 2026-07-01T00:00:00Z ([dkim] overlap = \"newest\")",
              "d=example.com s=s2026b (rsa-sha256): signs, in force since 2026-07-01T00:00:00Z"});
    CHECK(notes(kSwitch + 7 * kDay)[0] ==
          "d=example.com s=s2026 (rsa-sha256): does not sign, retired: not_after "
          "2026-07-08T00:00:00Z");
    // Without `explain`, no words are built.
    CHECK(decide_signatures(d, {.client_ip = "127.0.0.1"}, mailbox_list_domain(" a@example.com"),
                            kSwitch)
              .notes.empty());
}
