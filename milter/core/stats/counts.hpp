// counts.hpp - statistics of one staffeld, counted in memory between flushes.
//
// Purpose: every message outcome (core/outcome.hpp) and every ingested
//   bounce, complaint or unsubscribe adds to counters, per local hour, for
//   each value of each dimension (sender domain, sender, stream, route,
//   tag, recipient domain, outcome): one set of counters per dimension, not
//   a cross product. A flusher (staffeld) takes the counts at least once a
//   second and writes them to Redis in one round trip
//   (adapters/redis/stats_store); if that fails it gives them back, and
//   they go with the next flush.
// Counters (the same names in every dimension):
//   messages, recipients, bytes     accepted for delivery (action pass)
//   held                            held (quarantined) messages
//   fallback                        accepted messages a fallback route carries
//                                   (the route named first was down)
//   signed:ALGORITHM                DKIM signatures ("rsa-sha256", ...)
//   refused:REASON, deferred:REASON messages rejected / tempfailed, with
//                                   MessageOutcome::reason
//   rcpt_refused:REASON             recipients refused at RCPT (suppression)
//   rcpt_removed:REASON             recipients removed at the end
//   shadow_over:LIMIT               went over a [[quota]] with action "log"
//   bounce_hard, bounce_soft, complaint, unsubscribe   ingested reports
// Bounds: values are cut to kMaxValueBytes and escaped (value_text); at
//   most `max_keys` distinct (hour, dimension, value, counter) entries are
//   kept; past that a new value is counted as "other" (and folded() says
//   how many increments went there). Redis bounds values per dimension and
//   day again, across nodes (scripts/stats_flush.lua).
// Thread-safety: Counts is thread-safe (one mutex; add_* holds it for a few
//   map updates, never across I/O).
// Outside input: addresses, tags and reasons from mail; value_text makes
//   them printable ASCII without '|' (the field separator in Redis).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "core/outcome.hpp"
#include "core/tz.hpp"

namespace staffel::core::stats {

enum class Dimension { SenderDomain, Sender, Stream, Route, Tag, RecipientDomain, Outcome };

inline constexpr std::array kDimensions = {
    Dimension::SenderDomain, Dimension::Sender,          Dimension::Stream, Dimension::Route,
    Dimension::Tag,          Dimension::RecipientDomain, Dimension::Outcome};

// "sender_domain", "sender", "stream", "route", "tag", "rcpt_domain", "outcome".
std::string_view to_string(Dimension d);
std::optional<Dimension> parse_dimension(std::string_view name);

// The value every dimension falls back to past its bound.
inline constexpr std::string_view kOther = "other";
// Values longer than this are cut (an address is at most 254 bytes).
inline constexpr std::size_t kMaxValueBytes = 256;

// `text` as a stored value: printable ASCII kept, except '%' and '|' and
// anything else, which become %XX; cut at kMaxValueBytes; "" becomes
// `empty`.
std::string value_text(std::string_view text, std::string_view empty = "none");

// What the outcome dimension calls a message: "accepted", "held",
// "refused", "deferred", or "" for an aborted one (its refused recipients
// are counted as "refused_rcpt").
std::string_view outcome_value(MessageOutcome::Action action);

struct CountKey {
    std::string hour;  // local "YYYYMMDDHH"
    Dimension dimension = Dimension::SenderDomain;
    std::string value;
    std::string counter;
    auto operator<=>(const CountKey&) const = default;
};

// A CountKey that owns nothing, to look keys up without building strings
// (the mail path counts into existing keys almost always).
struct CountKeyView {
    std::string_view hour;
    Dimension dimension = Dimension::SenderDomain;
    std::string_view value;
    std::string_view counter;
};

struct CountKeyLess {
    using is_transparent = void;
    static auto tie(const CountKey& k) {
        return std::tuple<std::string_view, int, std::string_view, std::string_view>(
            k.hour, static_cast<int>(k.dimension), k.value, k.counter);
    }
    static auto tie(const CountKeyView& k) {
        return std::tuple<std::string_view, int, std::string_view, std::string_view>(
            k.hour, static_cast<int>(k.dimension), k.value, k.counter);
    }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
        return tie(a) < tie(b);
    }
};
using CountMap = std::map<CountKey, std::int64_t, CountKeyLess>;

// One ingested report: "bounce_hard", "bounce_soft", "complaint",
// "unsubscribe", attributed to the sender domain and tag of the original
// message when the report carries them ("" = unknown).
struct Ingested {
    std::string kind;
    std::string sender_domain;
    std::string tag;
};

class Counts {
  public:
    explicit Counts(std::size_t max_keys = 100000) : max_keys_(max_keys) {}

    // `hour` is the local hour of the outcome ("YYYYMMDDHH").
    void add(const MessageOutcome& o, std::string_view hour);
    void add(const Ingested& report, std::string_view hour);

    // Everything counted since the last take(), leaving nothing.
    CountMap take();
    // Counts a failed flush could not write, merged back (within the bound).
    void give_back(CountMap counts);

    [[nodiscard]] std::size_t keys() const;
    // Increments counted under "other" because max_keys was reached.
    [[nodiscard]] std::uint64_t folded() const;

  private:
    void bump(std::string_view hour, Dimension d, std::string_view value, std::string_view counter,
              std::int64_t n);

    const std::size_t max_keys_;
    mutable std::mutex mutex_;
    CountMap counts_;           // guarded
    std::uint64_t folded_ = 0;  // guarded
};

// The local hour label "YYYYMMDDHH" of a civil time.
std::string hour_label(int year, int month, int day, int hour);
// The local hour label of the instant `time` in `zone`.
std::string local_hour(const ZoneRules& zone, std::int64_t time);

}  // namespace staffel::core::stats
