// test_ingest.cpp - `staffelctl ingest`: reports in, suppression entries
// out, over a fake store and the sample reports in tests/data/bounces/.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "adapters/idn/idna.hpp"
#include "app/ingest_cmd.hpp"
#include "config/loader.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

std::string sample(const std::string& name) {
    std::ifstream in(std::string(STAFFEL_SOURCE_DIR) + "/tests/data/bounces/" + name,
                     std::ios::binary);
    REQUIRE(in);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Store : SuppressionStore {
    std::map<std::string, SuppressionEntry> entries;
    std::map<std::string, std::int64_t> soft;
    bool down = false;
    Result<std::vector<std::optional<SuppressionEntry>>> lookup(
        std::span<const std::string> keys) override {
        if (down) {
            return make_error("connection refused");
        }
        std::vector<std::optional<SuppressionEntry>> out;
        for (const auto& k : keys) {
            const auto it = entries.find(k);
            out.push_back(it == entries.end() ? std::nullopt : std::optional(it->second));
        }
        return out;
    }
    Result<bool> put(const std::string& key, const SuppressionEntry& e) override {
        if (down) {
            return make_error("connection refused");
        }
        entries[key] = e;
        return true;
    }
    Result<bool> remove(const std::string& key) override { return entries.erase(key) > 0; }
    Result<SoftBounceOutcome> count_soft_bounce(const std::string& counter_key, std::int64_t,
                                                std::int64_t limit, const std::string& entry_key,
                                                const SuppressionEntry& e) override {
        if (down) {
            return make_error("connection refused");
        }
        SoftBounceOutcome o;
        o.count = ++soft[counter_key];
        if (o.count >= limit) {
            entries[entry_key] = e;
            soft.erase(counter_key);
            o.suppressed = true;
        }
        return o;
    }
    Result<std::size_t> put_many(std::span<const KeyedEntry>) override {
        return make_error("not used");
    }
    Result<std::size_t> scan(std::string_view, const Visitor&) override {
        return make_error("not used");
    }
};

struct Run {
    int status = 0;
    std::string out;
    std::string err;
};

struct Harness {
    std::shared_ptr<const Policy> policy;
    Store store;
    Harness(const std::string& toml = "[suppression]\nsoft_bounce_limit = 2\n") {
        auto r = config::load_policy_text(toml, "t.toml");
        REQUIRE(r.policy);
        policy = r.policy;
    }
    Run ingest(const std::string& message, const std::string& rcpt = {}) {
        app::IngestContext ctx{policy.get(), &store, nullptr, adapters::domain_to_ascii,
                               1764000000,   false};
        std::ostringstream out;
        std::ostringstream err;
        Run r;
        r.status = app::ingest(ctx, message, rcpt, out, err);
        r.out = out.str();
        r.err = err.str();
        return r;
    }
    const SuppressionEntry* entry(const std::string& address) {
        auto it = store.entries.find("staffel:s:*:" + address);
        return it == store.entries.end() ? nullptr : &it->second;
    }
};

}  // namespace

TEST_CASE("a hard-bouncing DSN from each MTA becomes a hard_bounce entry", "[ingest]") {
    struct Case {
        const char* file;
        const char* address;
    };
    for (const auto& c : {Case{"postfix_hard.eml", "jane.doe@example.net"},
                          Case{"gmail_hard.eml", "dave.nobody@example.net"}}) {
        CAPTURE(c.file);
        Harness h;
        auto r = h.ingest(sample(c.file));
        CHECK(r.status == 0);
        CHECK(r.err.empty());
        const auto* e = h.entry(c.address);
        REQUIRE(e != nullptr);
        CHECK(e->reason == SuppressReason::HardBounce);
        CHECK(e->blocks_every_stream());
        CHECK(e->added_at == 1764000000);
        CHECK(e->source.starts_with("dsn"));
        CHECK(e->expires_at == 0);
        CHECK_THAT(r.out, Catch::Contains(std::string("suppressed ") + c.address + " hard_bounce"));
    }
    for (const char* file : {"exim_hard.eml", "exchange_hard.eml"}) {
        CAPTURE(file);
        Harness h;
        auto r = h.ingest(sample(file));
        CHECK(r.status == 0);
        CHECK(h.store.entries.size() == 1);
    }
}

TEST_CASE("soft bounces are counted and suppress at the limit", "[ingest]") {
    Harness h;
    auto first = h.ingest(sample("postfix_delayed.eml"));
    CHECK(first.status == 0);
    CHECK_THAT(first.out, Catch::Contains("soft bounce 1 of 2 for tom@example.org"));
    CHECK(h.entry("tom@example.org") == nullptr);
    auto second = h.ingest(sample("postfix_delayed.eml"));
    CHECK_THAT(second.out,
               Catch::Contains("soft bounce 2 of 2") && Catch::Contains("suppressed hard_bounce"));
    const auto* e = h.entry("tom@example.org");
    REQUIRE(e != nullptr);
    CHECK(e->source == "soft-bounces");
    CHECK(e->expires_at == 1764000000 + 30 * 86400);
}

TEST_CASE("a DSN's status maps to hard, soft or ignore by [suppression] dsn_status",
          "[ingest][dsn]") {
    const std::string hard = sample("postfix_hard.eml");  // Status: 5.1.1
    auto with_status = [&](const std::string& status) {
        std::string m = hard;
        for (auto at = m.find("5.1.1"); at != std::string::npos; at = m.find("5.1.1", at)) {
            m.replace(at, 5, status);
        }
        return m;
    };
    {
        // A full mailbox is counted as a soft bounce, not suppressed at once.
        Harness h;
        auto r = h.ingest(with_status("5.2.2"));
        CHECK(r.status == 0);
        CHECK(h.entry("jane.doe@example.net") == nullptr);
        CHECK_THAT(r.out, Catch::Contains("soft bounce 1 of 2 for jane.doe@example.net "
                                          "(status 5.2.2, dsn_status \"5.2.2\")"));
    }
    {
        // A policy refusal is about the sender, not the address.
        Harness h;
        auto r = h.ingest(with_status("5.7.1"));
        CHECK(r.status == 0);
        CHECK(h.store.entries.empty());
        CHECK(h.store.soft.empty());
        CHECK_THAT(r.out, Catch::Contains("ignored jane.doe@example.net (status 5.7.1, "
                                          "dsn_status \"5.7.*\" = ignore)"));
    }
    {
        // Unless the policy lists it.
        Harness h("[suppression]\ndsn_status = { \"5.7.1\" = \"hard_bounce\" }\n");
        auto r = h.ingest(with_status("5.7.1"));
        const auto* e = h.entry("jane.doe@example.net");
        REQUIRE(e != nullptr);
        CHECK(e->reason == SuppressReason::HardBounce);
        CHECK_THAT(r.out, Catch::Contains("suppressed jane.doe@example.net hard_bounce (status "
                                          "5.7.1, dsn_status \"5.7.1\")"));
    }
}

TEST_CASE("a soft bounce of an address already suppressed is not counted", "[ingest]") {
    Harness h;
    SuppressionEntry listed;
    listed.address = "tom@example.org";
    listed.reason = SuppressReason::HardBounce;
    listed.added_at = 1763000000;
    listed.source = "dsn";
    h.store.entries["staffel:s:*:tom@example.org"] = listed;
    auto r = h.ingest(sample("postfix_delayed.eml"));
    CHECK(r.status == 0);
    CHECK(h.store.soft.empty());
    CHECK_THAT(r.out, !Catch::Contains("soft bounce 1 of"));
    CHECK_THAT(r.out, Catch::Contains("tom@example.org is already suppressed (hard_bounce since "
                                      "2025-11-13T02:13:20Z): soft bounce not counted"));
    // The entry is left as it was.
    CHECK(h.entry("tom@example.org")->added_at == 1763000000);
    // A dead store is a temporary failure, as for counting.
    h.store.down = true;
    CHECK(h.ingest(sample("postfix_delayed.eml")).status == 75);
}

TEST_CASE("an ARF report becomes a complaint; VERP fills in the recipient", "[ingest]") {
    Harness h;
    auto r = h.ingest(sample("arf_abuse.eml"));
    CHECK(r.status == 0);
    const auto* e = h.entry("frank.miller@example.net");
    REQUIRE(e != nullptr);
    CHECK(e->reason == SuppressReason::Complaint);
    CHECK(e->source.starts_with("arf"));

    Harness verp;
    auto v = verp.ingest(sample("postfix_hard.eml"), "bounces+Kim=Example.org@bounce.example.com");
    CHECK(v.status == 0);
    CHECK(verp.entry("kim@example.org") != nullptr);
    CHECK(verp.entry("jane.doe@example.net") == nullptr);

    CHECK(app::verp_decode("bounces+bob=example.org@b.example") == "bob@example.org");
    CHECK(app::verp_decode("bounces+a=b=example.org@b.example") == "a=b@example.org");
    CHECK_FALSE(app::verp_decode("bounces@b.example"));
    CHECK_FALSE(app::verp_decode("bounces+nothing@b.example"));
    CHECK_FALSE(app::verp_decode("bounces+=x@b.example"));
}

TEST_CASE("what ingest cannot read it refuses, naming why; a dead store is 75", "[ingest]") {
    Harness h;
    auto plain = h.ingest("From: a@example.com\r\nSubject: out of office\r\n\r\nAway.\r\n");
    CHECK(plain.status == 65);
    CHECK_THAT(plain.err, Catch::Contains("not a report Staffel can read"));
    CHECK(h.store.entries.empty());

    h.store.down = true;
    auto down = h.ingest(sample("postfix_hard.eml"));
    CHECK(down.status == 75);
    CHECK_THAT(down.err, Catch::Contains("connection refused"));
}
