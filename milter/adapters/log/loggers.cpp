// loggers.cpp - see loggers.hpp.
#include "adapters/log/loggers.hpp"

#include <syslog.h>
#include <unistd.h>

#include <cerrno>

namespace staffel::adapters {

StderrLogger::StderrLogger(std::string ident) : ident_(std::move(ident)) {}

void StderrLogger::log(core::LogLevel level, std::string_view message) {
    if (!enabled(level)) {
        return;
    }
    std::string line = ident_ + "[" + std::to_string(::getpid()) + "]: ";
    line += core::to_string(level);
    line += ": ";
    line += message;
    line += '\n';
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        const ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;  // nowhere left to complain to
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

SyslogLogger::SyslogLogger(std::string ident) : ident_(std::move(ident)) {
    ::openlog(ident_.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
}

SyslogLogger::~SyslogLogger() {
    ::closelog();
}

void SyslogLogger::log(core::LogLevel level, std::string_view message) {
    if (!enabled(level)) {
        return;
    }
    int priority = LOG_INFO;
    switch (level) {
        case core::LogLevel::Debug:
            priority = LOG_DEBUG;
            break;
        case core::LogLevel::Info:
            priority = LOG_INFO;
            break;
        case core::LogLevel::Notice:
            priority = LOG_NOTICE;
            break;
        case core::LogLevel::Warning:
            priority = LOG_WARNING;
            break;
        case core::LogLevel::Error:
            priority = LOG_ERR;
            break;
    }
    ::syslog(priority, "%.*s", static_cast<int>(message.size()), message.data());
}

}  // namespace staffel::adapters
