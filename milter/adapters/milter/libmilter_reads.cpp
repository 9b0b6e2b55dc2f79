// libmilter_reads.cpp - see libmilter_reads.hpp.
#include "adapters/milter/libmilter_reads.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <new>

namespace {

constexpr int kTrackedDescriptors = 65536;

struct ReadAhead {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::array<char, staffel::adapters::kReadAheadBytes> bytes;
};

std::atomic<ReadAhead*> g_sessions[kTrackedDescriptors];

ReadAhead* session_of(int fd) {
    if (fd < 0 || fd >= kTrackedDescriptors) {
        return nullptr;
    }
    return g_sessions[fd].load(std::memory_order_acquire);
}

}  // namespace

namespace staffel::adapters {

void read_ahead_track(int fd) {
    if (fd < 0 || fd >= kTrackedDescriptors) {
        return;
    }
    auto* fresh = new (std::nothrow) ReadAhead;  // without memory: read as before
    delete g_sessions[fd].exchange(fresh, std::memory_order_acq_rel);
}

bool read_ahead_pending(int fd) {
    const ReadAhead* s = session_of(fd);
    return s != nullptr && s->begin < s->end;
}

}  // namespace staffel::adapters

extern "C" {

ssize_t __real_read(int fd, void* buf, size_t count);
int __real_close(int fd);

ssize_t __wrap_read(int fd, void* buf, size_t count) {
    ReadAhead* s = session_of(fd);
    if (s == nullptr || count == 0) {
        return __real_read(fd, buf, count);
    }
    if (s->begin == s->end) {
        if (count >= s->bytes.size()) {
            return __real_read(fd, buf, count);
        }
        const ssize_t got = __real_read(fd, s->bytes.data(), s->bytes.size());
        if (got <= 0) {
            return got;  // end of file, or an error with errno set
        }
        s->begin = 0;
        s->end = static_cast<std::size_t>(got);
    }
    const std::size_t n = std::min(count, s->end - s->begin);
    std::memcpy(buf, s->bytes.data() + s->begin, n);
    s->begin += n;
    return static_cast<ssize_t>(n);
}

int __wrap_close(int fd) {
    if (fd >= 0 && fd < kTrackedDescriptors) {
        delete g_sessions[fd].exchange(nullptr, std::memory_order_acq_rel);
    }
    return __real_close(fd);
}

}  // extern "C"
