// log.hpp - the logging port the core writes to.
//
// Purpose: the core and the adapters report through this interface; the
//   daemon plugs in syslog (facility mail) or stderr, tests a recorder.
// Thread-safety: implementations must accept calls from any thread.
// Secrets: callers never pass keys or passwords; nothing here redacts.
#pragma once

#include <string>
#include <string_view>

namespace staffel::core {

enum class LogLevel { Debug, Info, Notice, Warning, Error };

std::string_view to_string(LogLevel level);

class Logger {
  public:
    virtual ~Logger() = default;
    virtual void log(LogLevel level, std::string_view message) = 0;
    [[nodiscard]] virtual bool enabled(LogLevel level) const = 0;

    void debug(std::string_view m) { log(LogLevel::Debug, m); }
    void info(std::string_view m) { log(LogLevel::Info, m); }
    void notice(std::string_view m) { log(LogLevel::Notice, m); }
    void warning(std::string_view m) { log(LogLevel::Warning, m); }
    void error(std::string_view m) { log(LogLevel::Error, m); }
};

inline std::string_view to_string(LogLevel level) {
    switch (level) {
        case LogLevel::Debug:
            return "debug";
        case LogLevel::Info:
            return "info";
        case LogLevel::Notice:
            return "notice";
        case LogLevel::Warning:
            return "warning";
        case LogLevel::Error:
            return "error";
    }
    return "info";
}

}  // namespace staffel::core
