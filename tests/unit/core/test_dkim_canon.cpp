// test_dkim_canon.cpp - DKIM canonicalisation: RFC 6376 §3.4.6, tables of
// edge cases, a split-anywhere property against a whole-body reference, and
// a 50 MiB whitespace body that must not be buffered.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/dkim/canon.hpp"

using namespace staffel::core;
using namespace std::string_view_literals;

namespace {

// Control and 8-bit bytes spelled out, so a failure reads "got X, want Y".
std::string visible(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string v;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\r') {
            v += "\\r";
        } else if (c == '\n') {
            v += "\\n";
        } else if (c == '\t') {
            v += "\\t";
        } else if (c == '\\') {
            v += "\\\\";
        } else if (u < 0x20 || u >= 0x7f) {
            v += "\\x";
            v += kHex[u >> 4];
            v += kHex[u & 0xf];
        } else {
            v += c;
        }
    }
    return v;
}

// Streams `chunks` through a canonicaliser and returns what reached the sink.
std::string stream_body(Canon canon, const std::vector<std::string_view>& chunks) {
    BodyCanonicalizer body(canon);
    std::string got;
    const ByteSink sink = [&](std::string_view bytes) { got.append(bytes); };
    for (auto chunk : chunks) {
        body.update(chunk, sink);
    }
    body.finish(sink);
    CHECK(body.length() == got.size());
    return got;
}

std::string whole_body(Canon canon, std::string_view body) {
    return stream_body(canon, {body});
}

// RFC 6376 §3.4.3/§3.4.4 read literally, on the whole body at once: split
// into lines (CRLF or bare LF ends one), transform each line, drop trailing
// empty lines, join with CRLF. Independent of the streaming code.
std::string reference_body(Canon canon, std::string_view body) {
    std::vector<std::string> lines;
    std::string line;
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') {
            ++i;
        } else if (body[i] != '\n') {
            line += body[i];
            continue;
        }
        lines.push_back(line);
        line.clear();
    }
    if (!line.empty()) {
        lines.push_back(line);  // the last line had no line end
    }
    if (canon == Canon::Relaxed) {
        for (auto& l : lines) {
            std::string r;
            for (char c : l) {
                const bool wsp = c == ' ' || c == '\t';
                if (wsp && !r.empty() && r.back() == ' ') {
                    continue;
                }
                r += wsp ? ' ' : c;
            }
            while (!r.empty() && r.back() == ' ') {
                r.pop_back();
            }
            l = r;
        }
    }
    while (!lines.empty() && lines.back().empty()) {
        lines.pop_back();
    }
    std::string out;
    for (const auto& l : lines) {
        out += l + "\r\n";
    }
    if (canon == Canon::Simple && out.empty()) {
        out = "\r\n";
    }
    return out;
}

// Deterministic bytes from {a, SP, HTAB, CR, LF}.
struct XorShift {
    std::uint64_t s = 0x9E3779B97F4A7C15ULL;
    std::uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

std::string random_body(XorShift& rng, std::size_t max_len) {
    static constexpr char kAlphabet[] = {'a', ' ', '\t', '\r', '\n'};
    const auto len = static_cast<std::size_t>(rng.next() % (max_len + 1));
    std::string s;
    for (std::size_t i = 0; i < len; ++i) {
        s += kAlphabet[rng.next() % sizeof kAlphabet];
    }
    return s;
}

}  // namespace

TEST_CASE("RFC 6376 3.4.6 example, headers", "[dkim][canon]") {
    // "A: X" and "B : Y<HTAB><CRLF><HTAB>Z  ", as libmilter hands them with
    // SMFIP_HDR_LEADSPC: name up to the colon, value after it.
    struct Case {
        Canon canon;
        std::string_view want;
    };
    const Case cases[] = {
        {Canon::Relaxed, "a:X\r\nb:Y Z\r\n"},
        {Canon::Simple, "A: X\r\nB : Y\t\r\n\tZ  \r\n"},
    };
    for (const auto& c : cases) {
        std::string got = canon_header(c.canon, "A", " X");
        append_canon_header(c.canon, "B ", " Y\t\r\n\tZ  ", got);
        INFO(to_string(c.canon) << ": got " << visible(got) << ", want " << visible(c.want));
        CHECK(got == c.want);
    }
}

TEST_CASE("RFC 6376 3.4.6 example, body", "[dkim][canon]") {
    constexpr std::string_view body = " C \r\nD \t E\r\n\r\n\r\n";
    struct Case {
        Canon canon;
        std::string_view want;
    };
    const Case cases[] = {
        {Canon::Relaxed, " C\r\nD E\r\n"},
        {Canon::Simple, " C \r\nD \t E\r\n"},
    };
    for (const auto& c : cases) {
        const std::string got = whole_body(c.canon, body);
        INFO(to_string(c.canon) << ": got " << visible(got) << ", want " << visible(c.want));
        CHECK(got == c.want);
    }
}

TEST_CASE("c= values parse and print", "[dkim][canon]") {
    CHECK(*parse_canon("simple") == Canon::Simple);
    CHECK(*parse_canon("relaxed") == Canon::Relaxed);
    struct Case {
        std::string_view text;
        CanonPair want;
    };
    const Case cases[] = {
        {"simple/simple", {Canon::Simple, Canon::Simple}},
        {"relaxed/relaxed", {Canon::Relaxed, Canon::Relaxed}},
        {"relaxed/simple", {Canon::Relaxed, Canon::Simple}},
        {"simple/relaxed", {Canon::Simple, Canon::Relaxed}},
        {"relaxed", {Canon::Relaxed, Canon::Simple}},  // RFC 6376 §3.5
        {"simple", {Canon::Simple, Canon::Simple}},
    };
    for (const auto& c : cases) {
        auto got = parse_canon_pair(c.text);
        INFO("input " << c.text);
        REQUIRE(got.ok());
        CHECK(*got == c.want);
    }
    CHECK(to_string(CanonPair{Canon::Relaxed, Canon::Simple}) == "relaxed/simple");
    CHECK(to_string(CanonPair{Canon::Simple, Canon::Relaxed}) == "simple/relaxed");
    CHECK(to_string(Canon::Relaxed) == "relaxed");
}

TEST_CASE("bad c= values are refused with a hint", "[dkim][canon]") {
    for (std::string_view text : {""sv, "Relaxed"sv, "RELAXED/simple"sv, "relaxed/"sv, "/simple"sv,
                                  "relaxed/relaxed/relaxed"sv, "relaxed /simple"sv, " simple"sv,
                                  "nowsp"sv, "relaxed\\simple"sv}) {
        INFO("input \"" << text << "\"");
        auto got = parse_canon_pair(text);
        REQUIRE_FALSE(got.ok());
        CHECK(got.error().message.find(std::string(text)) != std::string::npos);
        CHECK(got.error().message.find("expected") != std::string::npos);
    }
    CHECK_FALSE(parse_canon("relaxed/relaxed").ok());
    CHECK_FALSE(parse_canon("Simple").ok());
}

TEST_CASE("header fields canonicalise", "[dkim][canon]") {
    struct Case {
        Canon canon;
        std::string_view name;
        std::string_view value;
        std::string_view want;
    };
    const Case cases[] = {
        // simple: byte for byte, folds normalised to CRLF
        {Canon::Simple, "Subject", " Hello", "Subject: Hello\r\n"},
        {Canon::Simple, "Subject", "Hello", "Subject:Hello\r\n"},
        {Canon::Simple, "X-Empty", "", "X-Empty:\r\n"},
        {Canon::Simple, "sUbJeCt", "  two  spaces \t", "sUbJeCt:  two  spaces \t\r\n"},
        {Canon::Simple, "To", " a@x,\r\n\tb@y", "To: a@x,\r\n\tb@y\r\n"},
        {Canon::Simple, "To", " a@x,\n b@y", "To: a@x,\r\n b@y\r\n"},
        {Canon::Simple, "To", " a,\n b,\r\n c,\n\t d", "To: a,\r\n b,\r\n c,\r\n\t d\r\n"},
        {Canon::Simple, "Subject", "\n x", "Subject:\r\n x\r\n"},
        {Canon::Simple, "Subject", " a\rb", "Subject: a\rb\r\n"},
        {Canon::Simple, "B ", " Y", "B : Y\r\n"},
        {Canon::Simple, "Subject", " caf\xc3\xa9 \xff\xfe\x80",
         "Subject: caf\xc3\xa9 \xff\xfe\x80\r\n"},
        // relaxed: lower-cased name, unfolded, WSP runs made one SP, trimmed
        {Canon::Relaxed, "SUBJECT", " Hello", "subject:Hello\r\n"},
        {Canon::Relaxed, "Message-ID", "<x@y>", "message-id:<x@y>\r\n"},
        {Canon::Relaxed, "dKiM-SiGnAtUrE", " v=1; a=rsa-sha256",
         "dkim-signature:v=1; a=rsa-sha256\r\n"},
        {Canon::Relaxed, "Subject", "  \t Hello \t World \t ", "subject:Hello World\r\n"},
        {Canon::Relaxed, "To", " a@x,\r\n\tb@y", "to:a@x, b@y\r\n"},
        {Canon::Relaxed, "To", " a@x,\n   b@y", "to:a@x, b@y\r\n"},
        {Canon::Relaxed, "Subject", " a \t\r\n \t b", "subject:a b\r\n"},
        {Canon::Relaxed, "Subject", "\r\n hello\r\n ", "subject:hello\r\n"},
        {Canon::Relaxed, "Subject", " a\r\nb", "subject:ab\r\n"},  // a broken fold
        {Canon::Relaxed, "X-Empty", " \t\r\n \t", "x-empty:\r\n"},
        {Canon::Relaxed, "X-Empty", "", "x-empty:\r\n"},
        {Canon::Relaxed, "B \t", " Y", "b:Y\r\n"},  // obsolete "B :"
        {Canon::Relaxed, "Subject", " a\rb", "subject:a\rb\r\n"},
        {Canon::Relaxed, "X-\xc3\x9c-Ber", " \xff\xfe  \xc3\xa9\t",
         "x-\xc3\x9c-ber:\xff\xfe \xc3\xa9\r\n"},
        {Canon::Relaxed, "X-Nul", " a\0b"sv, "x-nul:a\0b\r\n"sv},
    };
    for (const auto& c : cases) {
        const std::string got = canon_header(c.canon, c.name, c.value);
        INFO(to_string(c.canon) << " " << visible(c.name) << ":" << visible(c.value) << ": got "
                                << visible(got) << ", want " << visible(c.want));
        CHECK(got == c.want);
    }
}

TEST_CASE("append_canon_header appends", "[dkim][canon]") {
    std::string buf = "from:a@x\r\n";
    append_canon_header(Canon::Relaxed, "To", " b@y ", buf);
    CHECK(buf == "from:a@x\r\nto:b@y\r\n");
}

TEST_CASE("bodies canonicalise", "[dkim][canon]") {
    struct Case {
        std::string_view body;
        std::string_view want_simple;
        std::string_view want_relaxed;
    };
    const Case cases[] = {
        // empty bodies: simple is one CRLF, relaxed the empty string
        {"", "\r\n", ""},
        {"\r\n", "\r\n", ""},
        {"\r\n\r\n\r\n", "\r\n", ""},
        {"\n\n", "\r\n", ""},
        {"  \r\n \t\r\n", "  \r\n \t\r\n", ""},
        {"\r\n\r\n  \r\n", "\r\n\r\n  \r\n", ""},  // RFC 4871 erratum 1942's case
        {"   ", "   \r\n", ""},
        // the final CRLF
        {"abc", "abc\r\n", "abc\r\n"},
        {"abc  ", "abc  \r\n", "abc\r\n"},
        {"abc\r\n", "abc\r\n", "abc\r\n"},
        {"abc\r\n   ", "abc\r\n   \r\n", "abc\r\n"},
        // trailing empty lines go, leading and inner ones stay
        {"abc\r\n\r\n\r\n", "abc\r\n", "abc\r\n"},
        {"abc\r\n \r\n\t\r\n", "abc\r\n \r\n\t\r\n", "abc\r\n"},
        {"\r\n\r\nabc\r\n", "\r\n\r\nabc\r\n", "\r\n\r\nabc\r\n"},
        {"a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n"},
        {"a\r\n \r\nb\r\n", "a\r\n \r\nb\r\n", "a\r\n\r\nb\r\n"},
        // whitespace
        {"a  \t\r\nb\t\r\n", "a  \t\r\nb\t\r\n", "a\r\nb\r\n"},
        {"a\t\tb \t c\r\n", "a\t\tb \t c\r\n", "a b c\r\n"},
        {"\t a\r\n", "\t a\r\n", " a\r\n"},
        {"one two\r\n", "one two\r\n", "one two\r\n"},
        // line ends: bare LF is a line end, a bare CR an ordinary byte
        {"a\nb\n", "a\r\nb\r\n", "a\r\nb\r\n"},
        {"a\r\nb\nc", "a\r\nb\r\nc\r\n", "a\r\nb\r\nc\r\n"},
        {"a \n\n", "a \r\n", "a\r\n"},
        {"a\rb\r\n", "a\rb\r\n", "a\rb\r\n"},
        {"a \r b", "a \r b\r\n", "a \r b\r\n"},
        {"a\r", "a\r\r\n", "a\r\r\n"},
        {"\r", "\r\r\n", "\r\r\n"},
        {"\r\r\n", "\r\r\n", "\r\r\n"},
        {"a\r\r\n\n", "a\r\r\n", "a\r\r\n"},
        {"a \r\n\r", "a \r\n\r\r\n", "a\r\n\r\r\n"},
        // 8-bit, non-UTF-8 and NUL bytes pass through
        {"\xff\xfe\0 \x80\r\n"sv, "\xff\xfe\0 \x80\r\n"sv, "\xff\xfe\0 \x80\r\n"sv},
        {"caf\xc3\xa9  \xe9t\xe9\r\n", "caf\xc3\xa9  \xe9t\xe9\r\n", "caf\xc3\xa9 \xe9t\xe9\r\n"},
        {"\xa0\r\n", "\xa0\r\n", "\xa0\r\n"},  // Latin-1 NBSP is not WSP
    };
    for (const auto& c : cases) {
        for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
            const auto want = canon == Canon::Simple ? c.want_simple : c.want_relaxed;
            const std::string got = whole_body(canon, c.body);
            INFO(to_string(canon) << " " << visible(c.body) << ": got " << visible(got) << ", want "
                                  << visible(want));
            CHECK(got == want);
            CHECK(reference_body(canon, c.body) == want);  // the reference agrees too
        }
    }
}

TEST_CASE("many blank lines inside the body are kept as a count, then sent", "[dkim][canon]") {
    for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
        std::string blanks;
        for (int i = 0; i < 1000; ++i) {
            blanks += "\r\n";
        }
        BodyCanonicalizer body(canon);
        std::string got;
        const ByteSink sink = [&](std::string_view b) { got.append(b); };
        body.update("a\r\n", sink);
        body.update(blanks, sink);
        INFO(to_string(canon));
        CHECK(got == "a\r\n");
        CHECK(body.pending_empty_lines() == 1000);
        body.update("b", sink);
        CHECK(body.pending_empty_lines() == 0);
        body.finish(sink);
        CHECK(got == "a\r\n" + blanks + "b\r\n");
        CHECK(body.length() == got.size());
    }
}

TEST_CASE("any split of the body gives the same bytes as the whole", "[dkim][canon][property]") {
    XorShift rng;
    for (int n = 0; n < 600; ++n) {
        const std::string body = random_body(rng, 40);
        for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
            const std::string want = whole_body(canon, body);
            INFO(to_string(canon) << " body " << visible(body));
            REQUIRE(visible(want) == visible(reference_body(canon, body)));
            const std::string_view sv = body;
            for (std::size_t k = 0; k <= sv.size(); ++k) {
                const std::string got = stream_body(canon, {sv.substr(0, k), sv.substr(k)});
                INFO("split at " << k);
                REQUIRE(visible(got) == visible(want));
            }
            std::vector<std::string_view> bytes;
            for (std::size_t i = 0; i < sv.size(); ++i) {
                bytes.push_back(sv.substr(i, 1));
                bytes.push_back(sv.substr(i, 0));  // empty chunks change nothing
            }
            REQUIRE(visible(stream_body(canon, bytes)) == visible(want));
            std::vector<std::string_view> pieces;  // random chunk sizes
            for (std::size_t i = 0; i < sv.size();) {
                const auto len = static_cast<std::size_t>(1 + rng.next() % 5);
                pieces.push_back(sv.substr(i, len));
                i += len;
            }
            REQUIRE(visible(stream_body(canon, pieces)) == visible(want));
        }
    }
}

TEST_CASE("reset starts a new body", "[dkim][canon]") {
    BodyCanonicalizer body(Canon::Relaxed);
    std::string got;
    const ByteSink sink = [&](std::string_view b) { got.append(b); };
    body.update("first  \r\n\r\n", sink);
    body.finish(sink);
    CHECK(got == "first\r\n");
    body.reset();
    got.clear();
    CHECK(body.length() == 0);
    body.update("", sink);
    body.finish(sink);
    CHECK(got.empty());
    CHECK(body.canon() == Canon::Relaxed);
}

// The canonicaliser owns no heap memory: a trivially copyable object of a
// few scalars cannot hold a buffer that grows with the body.
static_assert(std::is_trivially_copyable_v<BodyCanonicalizer>);
static_assert(sizeof(BodyCanonicalizer) <= 64);

TEST_CASE("50 MiB of spaces then x: nothing is buffered", "[dkim][canon][memory]") {
    const std::string block(64 * 1024, ' ');
    constexpr int kBlocks = 800;  // 50 MiB
    constexpr std::uint64_t kSpaces = std::uint64_t{kBlocks} * 64 * 1024;
    for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
        INFO(to_string(canon));
        BodyCanonicalizer body(canon);
        std::uint64_t total = 0;
        std::size_t largest = 0;
        std::string tail;  // the output after the spaces; a few bytes
        const ByteSink sink = [&](std::string_view b) {
            total += b.size();
            largest = std::max(largest, b.size());
            for (char c : b) {
                if (c != ' ') {
                    tail += c;
                }
            }
        };
        for (int i = 0; i < kBlocks; ++i) {
            body.update(block, sink);
            // simple: spaces are content, final at once; relaxed: one flag
            const std::uint64_t want = canon == Canon::Simple ? (i + 1) * block.size() : 0;
            if (total != want) {
                FAIL("after block " << i << ": got " << total << " bytes out, want " << want);
            }
        }
        body.update("x\r\n", sink);
        body.finish(sink);
        CHECK(tail == "x\r\n");
        CHECK(total == (canon == Canon::Simple ? kSpaces + 3 : 4));  // relaxed: " x\r\n"
        CHECK(body.length() == total);
        CHECK(largest <= std::max(block.size(), BodyCanonicalizer::kOutputPiece));
        CHECK(body.pending_empty_lines() == 0);
    }
}

TEST_CASE("a million blank lines are a count", "[dkim][canon][memory]") {
    const std::string block(64 * 1024, '\n');
    for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
        INFO(to_string(canon));
        BodyCanonicalizer body(canon);
        std::string got;
        const ByteSink sink = [&](std::string_view b) { got.append(b); };
        body.update("text\r\n", sink);
        for (int i = 0; i < 16; ++i) {
            body.update(block, sink);
        }
        CHECK(got == "text\r\n");
        CHECK(body.pending_empty_lines() == 16 * block.size());
        body.finish(sink);
        CHECK(got == "text\r\n");
    }
}
