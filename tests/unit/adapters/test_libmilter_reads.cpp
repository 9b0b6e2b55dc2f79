// The read-ahead on libmilter's sessions (adapters/milter/libmilter_reads.hpp)
// over a real socketpair: this test binary is linked with the same
// --wrap=read,close,poll as staffeld, so read(2), poll(2) and close(2) here
// go through the wrappers exactly as libmilter's do.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "adapters/milter/libmilter_reads.hpp"

using namespace std::string_literals;
using staffel::adapters::kReadAheadBytes;
using staffel::adapters::read_ahead_pending;
using staffel::adapters::read_ahead_track;

namespace {

struct Pair {
    int mta = -1;     // the MTA's end
    int milter = -1;  // libmilter's end, tracked
    Pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        mta = fds[0];
        milter = fds[1];
        read_ahead_track(milter);
    }
    ~Pair() {
        ::close(mta);
        ::close(milter);
    }
    void send(const std::string& bytes) const {
        REQUIRE(::write(mta, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    }
    std::string read_exactly(std::size_t n) const {
        std::string got(n, '\0');
        std::size_t have = 0;
        while (have < n) {
            const ssize_t r = ::read(milter, got.data() + have, n - have);
            REQUIRE(r > 0);
            have += static_cast<std::size_t>(r);
        }
        return got;
    }
    int poll_milter(int timeout_ms) const {
        pollfd p{milter, POLLIN, 0};
        return ::poll(&p, 1, timeout_ms);
    }
};

}  // namespace

TEST_CASE("commands sent back to back are handed out in the pieces asked for", "[read_ahead]") {
    Pair p;
    p.send("\x00\x00\x00\x05Hhead1\x00\x00\x00\x05Hhead2\x00\x00\x00\x01N"s);
    CHECK(p.read_exactly(5) == "\x00\x00\x00\x05H"s);
    // The rest was read with the first call and is kept.
    CHECK(read_ahead_pending(p.milter));
    CHECK(p.poll_milter(0) == 1);  // readable although the kernel holds nothing
    CHECK(p.read_exactly(4) == "head");
    CHECK(p.read_exactly(1) == "1");
    CHECK(p.read_exactly(10) == "\x00\x00\x00\x05Hhead2"s);
    CHECK(p.read_exactly(5) == "\x00\x00\x00\x01N"s);
    CHECK_FALSE(read_ahead_pending(p.milter));
    CHECK(p.poll_milter(0) == 0);  // nothing kept, nothing sent: not readable
    p.send("more");
    CHECK(p.poll_milter(1000) == 1);
    CHECK(p.read_exactly(4) == "more");
}

TEST_CASE("a read of the buffer's size or more goes straight to the caller", "[read_ahead]") {
    Pair p;
    const std::string chunk(3 * kReadAheadBytes, 'b');
    p.send("xy" + chunk);
    CHECK(p.read_exactly(1) == "x");  // the first read keeps what fits
    std::string rest = p.read_exactly(1 + chunk.size());
    CHECK(rest == "y" + chunk);
    CHECK_FALSE(read_ahead_pending(p.milter));
}

TEST_CASE("a poll over several sessions sees the kept bytes of each", "[read_ahead]") {
    Pair a, b;
    a.send("1234");
    b.send("5678");
    CHECK(a.read_exactly(1) == "1");  // a: 3 bytes kept, kernel empty
    pollfd set[2] = {{a.milter, POLLIN, 0}, {b.milter, POLLIN, 0}};
    CHECK(::poll(set, 2, 1000) == 2);
    CHECK((set[0].revents & POLLIN) != 0);
    CHECK((set[1].revents & POLLIN) != 0);
    CHECK(b.read_exactly(4) == "5678");
    set[0].revents = set[1].revents = 0;
    CHECK(::poll(set, 2, 0) == 1);  // b is empty now; a still has its kept bytes
    CHECK((set[0].revents & POLLIN) != 0);
    CHECK(set[1].revents == 0);
}

TEST_CASE("end of file and errors come through; close forgets the kept bytes", "[read_ahead]") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    read_ahead_track(fds[1]);
    REQUIRE(::write(fds[0], "abc", 3) == 3);
    char c = 0;
    REQUIRE(::read(fds[1], &c, 1) == 1);
    CHECK(read_ahead_pending(fds[1]));
    ::close(fds[0]);
    char rest[8];
    CHECK(::read(fds[1], rest, sizeof rest) == 2);  // the kept bytes first
    CHECK(::read(fds[1], rest, sizeof rest) == 0);  // then the MTA's end of file
    CHECK(::close(fds[1]) == 0);
    CHECK_FALSE(read_ahead_pending(fds[1]));
    CHECK(::read(fds[1], rest, sizeof rest) == -1);  // a closed descriptor: EBADF
    CHECK(errno == EBADF);
}

TEST_CASE("descriptors that were not tracked are read as before", "[read_ahead]") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    REQUIRE(::write(fds[0], "abcdef", 6) == 6);
    char c = 0;
    REQUIRE(::read(fds[1], &c, 1) == 1);
    CHECK_FALSE(read_ahead_pending(fds[1]));  // the kernel keeps the rest
    pollfd p{fds[1], POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 1);
    char rest[8];
    CHECK(::read(fds[1], rest, sizeof rest) == 5);
    ::close(fds[0]);
    ::close(fds[1]);
}
