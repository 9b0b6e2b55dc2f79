// loggers.hpp - core::Logger implementations: stderr and syslog.
//
// Purpose: `staffeld -f` logs to stderr ("staffeld[PID]: LEVEL: text"),
//   a daemonised staffeld to syslog with facility mail. The threshold can
//   be changed at run time (a reload may change [log] level).
// Thread-safety: log() may be called from any thread; a line is written
//   with one write(2)/syslog(3) call so lines never interleave.
// Secrets: none are passed in; nothing is redacted here.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "core/log.hpp"

namespace staffel::adapters {

class ThresholdLogger : public core::Logger {
  public:
    [[nodiscard]] bool enabled(core::LogLevel level) const override {
        return level >= threshold_.load(std::memory_order_relaxed);
    }
    void set_threshold(core::LogLevel level) { threshold_.store(level); }

  private:
    std::atomic<core::LogLevel> threshold_{core::LogLevel::Info};
};

class StderrLogger final : public ThresholdLogger {
  public:
    explicit StderrLogger(std::string ident);
    void log(core::LogLevel level, std::string_view message) override;

  private:
    std::string ident_;
};

class SyslogLogger final : public ThresholdLogger {
  public:
    explicit SyslogLogger(std::string ident);  // openlog(ident, LOG_PID, LOG_MAIL)
    ~SyslogLogger() override;
    SyslogLogger(const SyslogLogger&) = delete;
    SyslogLogger& operator=(const SyslogLogger&) = delete;
    void log(core::LogLevel level, std::string_view message) override;

  private:
    std::string ident_;  // syslog keeps the pointer: it must outlive closelog()
};

}  // namespace staffel::adapters
