// web_cmd.hpp - `staffelctl web`: serves the dashboard (app/dashboard).
//
// Purpose: reads the policy's [redis] and [web] settings, refuses a
//   listening address outside loopback unless [web] token_file is set,
//   starts the HTTP server (adapters/http/http_server) and the suppression
//   census thread, and serves until SIGINT or SIGTERM.
// Output: one line on stderr saying where it listens; errors on stderr.
// Exit status: 0 stopped by a signal; 64 bad --listen, or a non-loopback
//   address without authentication; 66 Chart.js cannot be read; 69 the
//   address cannot be bound; 78 the policy is invalid.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace staffel::app {

struct WebArgs {
    std::string listen;  // "" = [web] listen
    std::string chart_js = "/usr/share/javascript/chart.js/chart.min.js";
    unsigned threads = 4;
};

class WebCli {
  public:
    using ManPage = void (*)(CLI::App*, std::string, std::string, std::string);
    void add(CLI::App& app, ManPage man_page);
    [[nodiscard]] bool parsed() const;
    int run(const std::string& policy_path);

  private:
    WebArgs args_;
    CLI::App* app_ = nullptr;
};

}  // namespace staffel::app
