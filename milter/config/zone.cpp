// zone.cpp - see zone.hpp.
#include "config/zone.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace staffel::config {
namespace {

constexpr std::string_view kZoneHint = "e.g. \"Europe/Berlin\" or \"UTC\"";

// The name as it may appear in a message: printable ASCII, shortened.
std::string quoted(std::string_view name) {
    std::string out = "\"";
    for (const char c : name.substr(0, kMaxZoneNameLength)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    return out + (name.size() > kMaxZoneNameLength ? "...\"" : "\"");
}

bool is_name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '+';
}

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    [[nodiscard]] int get() const { return fd_; }

  private:
    int fd_;
};

// Reads the regular file at `path`, at most kMaxZoneFileBytes. `missing` is
// set when there is no such file (the name is then an unknown zone).
core::Result<std::string> read_zone_file(const std::string& path, bool& missing) {
    missing = false;
    // O_NONBLOCK: a FIFO planted in the tree must not hang the policy load.
    const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) {
        missing = errno == ENOENT || errno == ENOTDIR;
        return core::make_error(std::string("cannot open ") + path + ": " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return core::make_error(std::string("cannot inspect ") + path + ": " +
                                std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return core::make_error(path + (S_ISDIR(st.st_mode) ? " is a directory of zones, not a zone"
                                                            : " is not a regular file"));
    }
    if (static_cast<std::uintmax_t>(st.st_size) > kMaxZoneFileBytes) {
        return core::make_error(path + " is larger than 1 MiB; that is no TZif file");
    }
    std::string bytes;
    std::array<char, 8192> buf{};
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return core::make_error(std::string("cannot read ") + path + ": " +
                                    std::strerror(errno));
        }
        if (n == 0) {
            return bytes;
        }
        bytes.append(buf.data(), static_cast<std::size_t>(n));
        if (bytes.size() > kMaxZoneFileBytes) {
            return core::make_error(path + " is larger than 1 MiB; that is no TZif file");
        }
    }
}

}  // namespace

bool is_valid_zone_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxZoneNameLength) {
        return false;
    }
    std::size_t begin = 0;
    for (;;) {
        const std::size_t slash = name.find('/', begin);
        const std::string_view part = name.substr(
            begin, slash == std::string_view::npos ? std::string_view::npos : slash - begin);
        if (part.empty() || part == "." || part == "..") {
            return false;
        }
        for (const char c : part) {
            if (!is_name_char(c)) {
                return false;
            }
        }
        if (slash == std::string_view::npos) {
            return true;
        }
        begin = slash + 1;
    }
}

core::Result<core::ZoneRules> load_zone(std::string_view name, const std::string& zoneinfo_dir) {
    if (name == "UTC") {
        return core::ZoneRules::utc();
    }
    if (!is_valid_zone_name(name)) {
        return core::make_error("invalid time zone name " + quoted(name) +
                                ": want a relative IANA name of letters, digits, '/', '_', '-' and "
                                "'+' (at most 64 characters, no \"..\"), " +
                                std::string(kZoneHint));
    }
    std::string path = zoneinfo_dir;
    if (path.empty() || path.back() != '/') {
        path += '/';
    }
    path += name;
    bool missing = false;
    auto bytes = read_zone_file(path, missing);
    if (!bytes) {
        if (missing) {
            return core::make_error("unknown time zone " + quoted(name) + " (no file in " +
                                    zoneinfo_dir + "); " + std::string(kZoneHint));
        }
        return core::make_error("time zone " + quoted(name) + ": " + bytes.error().message + "; " +
                                std::string(kZoneHint));
    }
    return core::ZoneRules::from_tzif(name, *bytes);
}

}  // namespace staffel::config
