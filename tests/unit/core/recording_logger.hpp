// recording_logger.hpp - a Logger for unit tests that keeps every line it is
// given, and a clock helper for tests that pin the time.
//
// Purpose: the Session tests read back the per-message line and the
//   warnings a step logged; one logger for all of them instead of a copy per
//   file.
// Thread-safety: none; one test thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "core/tz.hpp"

namespace staffel::test {

// Keeps the lines at or above threshold (Info unless a test lowers it), with
// their levels, in the order logged.
struct RecordingLogger : core::Logger {
    std::vector<std::pair<core::LogLevel, std::string>> lines;
    core::LogLevel threshold = core::LogLevel::Info;

    void log(core::LogLevel level, std::string_view m) override {
        if (enabled(level)) {
            lines.emplace_back(level, std::string(m));
        }
    }
    [[nodiscard]] bool enabled(core::LogLevel level) const override { return level >= threshold; }

    // The text of the last line; empty when nothing was logged.
    [[nodiscard]] std::string last() const { return lines.empty() ? "" : lines.back().second; }
    // How many lines contain needle.
    [[nodiscard]] std::size_t count(std::string_view needle) const {
        std::size_t n = 0;
        for (const auto& line : lines) {
            n += line.second.find(needle) != std::string_view::npos ? 1 : 0;
        }
        return n;
    }
};

// Epoch seconds of a UTC civil time.
inline std::int64_t utc(int y, int mo, int d, int h = 0, int mi = 0) {
    return core::days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

}  // namespace staffel::test
