// test_event_json.cpp - the events of the event feed (app/event_json): the
// schema's fields per type, and valid JSON whatever bytes the client sent.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "app/event_json.hpp"

using namespace staffel;

TEST_CASE("a refused message is one event with the schema's fields", "[events]") {
    core::MessageOutcome o;
    o.action = core::MessageOutcome::Action::Reject;
    o.reason = "quota:cap";
    o.reply = "550 5.7.1 Staffel: quota \"cap\" exceeded";
    o.queue_id = "QID";
    o.sender = "app@shop.example";
    o.client_addr = "192.0.2.7";
    o.recipients = 0;
    o.stream = "bulk";
    o.signatures = {{"shop.example", "s1", "rsa-sha256"}, {"shop.example", "e1", "ed25519-sha256"}};
    o.refused = {{"gone@x.example", "hard_bounce"}};
    o.time = 1764849600;
    const auto events = app::message_events(o, "mx1");
    REQUIRE(events.size() == 2);
    const auto m = nlohmann::json::parse(events[0]);
    CHECK(m["v"] == 1);
    CHECK(m["type"] == "message.refused");
    CHECK(m["time"] == "2025-12-04T12:00:00Z");
    CHECK(m["node"] == "mx1");
    CHECK(m["queue_id"] == "QID");
    CHECK(m["sender"] == "app@shop.example");
    CHECK(m["client_ip"] == "192.0.2.7");
    CHECK(m["recipients"] == 0);
    CHECK(m["stream"] == "bulk");
    CHECK(m["reason"] == "quota:cap");
    CHECK(m["reply"] == "550 5.7.1 Staffel: quota \"cap\" exceeded");
    CHECK(m["signatures"] ==
          nlohmann::json::parse(R"([{"d":"shop.example","s":"s1","a":"rsa-sha256"},
                                    {"d":"shop.example","s":"e1","a":"ed25519-sha256"}])"));
    const auto r = nlohmann::json::parse(events[1]);
    CHECK(r["type"] == "recipient.refused");
    CHECK(r["recipient"] == "gone@x.example");
    CHECK(r["reason"] == "hard_bounce");
}

TEST_CASE("any bytes from the client still give valid JSON", "[events]") {
    core::MessageOutcome o;
    o.action = core::MessageOutcome::Action::Pass;
    o.sender = std::string("a\"b\\c\r\n\x01\xff\xc3\xa9@x", 13);
    o.sasl_user = std::string("\0z", 2);
    const auto events = app::message_events(o, "n");
    REQUIRE(events.size() == 1);
    const auto j = nlohmann::json::parse(events[0]);
    CHECK(j["sender"] == "a\"b\\c\r\n\x01\xc3\xbf\xc3\x83\xc2\xa9@x");
    CHECK(j["sasl_user"] == std::string("\0z", 2));
    CHECK(events[0].find('\xff') == std::string::npos);
}

TEST_CASE("an aborted message has no event of its own", "[events]") {
    core::MessageOutcome o;
    CHECK(app::message_events(o, "n").empty());
    o.removed = {{"a@x.example", "unsubscribe"}};
    const auto events = app::message_events(o, "n");
    REQUIRE(events.size() == 1);
    CHECK(nlohmann::json::parse(events[0])["type"] == "recipient.removed");
}
