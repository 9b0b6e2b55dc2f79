// event_json.hpp - events of the event feed as JSON (schema version 1).
//
// Purpose: one definition of the event schema that staffeld writes to the
//   Redis Stream, staffelctl writes for ingested reports, and consumers
//   (staffelctl events, webhooks) read. Every event is one JSON object with
//   "v" (1), "type", "time" (RFC 3339, UTC) and "node"; the other fields
//   depend on the type (README.md, "Event feed").
// Types: message.accepted, message.held, message.refused, message.deferred,
//   recipient.refused, recipient.removed, bounce.hard, bounce.soft,
//   complaint, unsubscribe, policy.reloaded, route.down, route.up.
// Thread-safety: pure functions.
// Outside input: addresses, tags and replies from mail. Message events are
//   written by hand with every byte outside printable ASCII as \u00XX (so
//   any bytes give valid JSON); the others with nlohmann::json (invalid
//   UTF-8 replaced, never thrown on).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/outcome.hpp"

namespace staffel::app {

inline constexpr int kEventSchemaVersion = 1;

// The events of one message: its own (none for an aborted one) and one per
// recipient refused at RCPT or removed at the end.
std::vector<std::string> message_events(const core::MessageOutcome& o, std::string_view node);

// An event with only the common fields and `fields` (string values).
std::string simple_event(std::string_view type, std::int64_t time, std::string_view node,
                         const std::vector<std::pair<std::string, std::string>>& fields);

// "2026-12-04T13:05:00Z"
std::string rfc3339_utc(std::int64_t time);

// This host's name, the "node" of events ("unknown" if it cannot be had).
std::string node_name();

}  // namespace staffel::app
