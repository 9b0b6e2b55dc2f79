// stats_writer.hpp - statistics and events that one staffelctl command
// writes once, at its end.
//
// Purpose: `staffelctl ingest` and `staffelctl suppress add` record
//   bounces, complaints and unsubscribes; with [stats] and [events] on,
//   each is counted (core/stats/counts.hpp: bounce_hard, bounce_soft,
//   complaint, unsubscribe, by sender domain and tag) and becomes an event
//   (bounce.hard, bounce.soft, complaint, unsubscribe), written to Redis in
//   one round trip by write(), like staffeld's flushes.
// Privacy: with [suppression] hash_secret_file, the address in an event is
//   its hashed key part ("h:HEX"), as in the suppression store.
// Failure policy: a write that fails is reported on `err` and does not
//   change the command's exit status: the suppression entry, which is what
//   matters, is recorded already; only its statistics are lost.
// Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy.hpp"
#include "core/stats/counts.hpp"

namespace staffel::app {

class OneShotStats {
  public:
    explicit OneShotStats(const core::Policy& policy);

    // One ingested report for `address` (normalised) at `now`.
    void ingested(const core::stats::Ingested& what, std::string_view address, std::int64_t now);

    // One more event (event_json.hpp), e.g. route.down; kept only with
    // [events] enabled.
    void event(std::string json);

    // Writes what was added; false (said on `err`) if Redis did not take it.
    bool write(std::ostream& err);

  private:
    const core::Policy& policy_;
    core::stats::Counts counts_;
    std::vector<std::string> events_;
};

// What the reported message's own header fields say of it: the sender
// domain (From:, else Return-Path, else the report's Original-Mail-From;
// routes may have rewritten the envelope, the author's domain stays) and
// the tag
// ([stats] tag_headers, else the first ':'-separated part of Feedback-ID
// when the policy's feedback_id template starts with "{tag}:").
core::stats::Ingested attribute_report(
    const core::Policy& policy, std::string kind, std::string_view original_mail_from,
    const std::vector<std::pair<std::string, std::string>>& original_headers);

}  // namespace staffel::app
