// events_cmd.hpp - `staffelctl events tail` and `staffelctl events webhook`.
//
// Purpose: the event feed for people and applications. `tail` prints the
//   newest events of PREFIXevents (one line each, or the JSON with --json),
//   and with --follow keeps printing new ones. `webhook` delivers every
//   event as an HTTP POST of its JSON to --url, through the Redis consumer
//   group "webhook" (--group): several dispatchers share the work, and an
//   entry is acknowledged only after each of its events was delivered or
//   set aside, so every event reaches the receiver at least once (a
//   dispatcher that dies hands its entries to the others after
//   --claim-after). Each request carries
//     X-Staffel-Event-Id: ENTRY-ID.INDEX  (the same on every retry)
//     X-Staffel-Signature: t=UNIX-TIME,v1=HEX
//   where HEX is HMAC-SHA256 (key: the --secret-file's first line) of
//   "UNIX-TIME." followed by the body. A 2xx answer is delivery; 5xx, 408,
//   429, timeouts and transport errors are retried with exponential backoff
//   (0.5 s doubling, at most 30 s) up to --max-attempts; other answers, and
//   events still failing after the last attempt, are set aside in
//   PREFIXevents:failed with the reason and counted, never dropped.
// Output: tail: events on stdout. webhook: one line per event set aside
//   and totals at exit on stderr. SIGINT and SIGTERM end both cleanly.
// Exit status: 0 done; 64 bad options; 66 the secret file cannot be read
//   or is readable by others; 69 Redis cannot be reached (tail); 78 the
//   policy is invalid.
#pragma once

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <string>

#include "core/policy.hpp"

namespace CLI {
class App;
}

namespace staffel::app {

struct EventsArgs {
    // tail
    bool follow = false;
    std::string type;  // only events of this type ("message.refused", or a prefix "message.")
    bool json = false;
    std::size_t lines = 20;
    // webhook
    std::string url;
    std::string secret_file;
    std::string group = "webhook";
    std::string consumer;  // "" = HOST-PID
    std::chrono::milliseconds timeout{10000};
    int max_attempts = 8;
    std::chrono::milliseconds claim_after{60000};
};

int events_tail(const core::Policy& policy, const EventsArgs& args, std::ostream& out,
                std::ostream& err);
int events_webhook(const core::Policy& policy, const EventsArgs& args, std::ostream& err);

// One event as a line for people: "TIME TYPE key=value ...".
std::string event_line(const std::string& json);

class EventsCli {
  public:
    using ManPage = void (*)(CLI::App*, std::string, std::string, std::string);
    void add(CLI::App& app, ManPage man_page);
    [[nodiscard]] bool parsed() const;
    int run(const std::string& policy_path);

  private:
    EventsArgs args_;
    std::string timeout_text_ = "10s";
    CLI::App* tail_ = nullptr;
    CLI::App* webhook_ = nullptr;
};

}  // namespace staffel::app
