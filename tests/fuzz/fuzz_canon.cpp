// fuzz_canon.cpp - libFuzzer target: header field parsing (core/headers.hpp)
// and both DKIM canonicalisations (core/dkim/canon.hpp, RFC 6376 §3.4).
//
// Purpose: header fields and the body come from the SMTP client; parsing
//   and canonicalising them must never crash, leak or hit undefined
//   behaviour, and the canonical forms must keep the promises below. A
//   broken promise aborts, which libFuzzer reports as a crash.
// Input layout: one byte of flags, then a header name (up to the first NUL),
//   then the rest. The rest is used as a header value and as a body, the
//   body fed in chunks whose sizes come from the flags byte.
// Promises checked (S = simple, R = relaxed; crlf(x) replaces every CRLF of
// x with LF):
//   Header fields (§3.4.1, §3.4.2):
//     H1  R(R(f)) == R(f): the relaxed form, split at its first ':' and
//         without its final CRLF, canonicalises to itself.
//     H2  R(f) ends in CRLF; its value holds no LF, no HTAB, no two SPs in
//         a row, no SP at either end; its name holds no upper-case ASCII
//         letter. (Names hold no ':', CR or LF: RFC 5322 §2.2.)
//     H3  S(f) ends in CRLF, holds no bare LF, and
//         crlf(S(f)) == crlf(name ":" value) LF: simple changes nothing but
//         the line breaks.
//     H4  Clean field: a name of lower-case ASCII letters, digits and '-',
//         and a value without CR, LF or HTAB, without two SPs in a row and
//         without SP at either end: S(f) == R(f).
//   Body (§3.4.3, §3.4.4), each fed in fuzzer-chosen chunks:
//     B1  chunking changes nothing: the output equals that of the whole
//         body in one update().
//     B2  S(S(b)) == S(b) and R(R(b)) == R(b).
//     B3  R(S(b)) == R(b): relaxed only ever removes more than simple.
//     B4  S(b) ends in CRLF and is never longer than CRLF unless it ends
//         in a non-empty line; it holds no bare LF.
//     B5  R(b) is empty or ends in CRLF, does not end in CRLF CRLF, holds no
//         bare LF, no HTAB, no two SPs in a row and no SP before a CRLF.
//     B6  length() equals the number of bytes sent to the sink.
//     B7  Clean body: no HTAB; CR only directly before LF and every LF
//         after a CR (CRLF line breaks only); no SP before a line break or
//         at the end; no two SPs in a row; at least one line that is not
//         empty (so the trailing-empty-lines rules agree): S(b) == R(b).
//         Checked on the input when it is clean, and always on a clean body
//         made from the input (clean_body()).
//   Header parsing (RFC 5322 §3.4, §3.6.2):
//     P1  parse_address_list(): every address holds '@' and is not empty;
//         together they are never longer than the value.
//     P2  mailbox_list_domain(): when ok, the domain is non-empty, has no
//         upper-case ASCII letter, no trailing dot and is no literal.
//     P3  HeaderCollector keeps its bounds: at most max fields and bytes
//         stored, add() false exactly once overflowed.
// Seeds: tests/fuzz/corpus/canon/.
// Thread-safety: libFuzzer calls this from one thread.
// Outside input: the fuzzer's bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/dkim/canon.hpp"
#include "core/headers.hpp"

namespace {

using namespace staffel::core;

// Aborts, naming the line of the promise broken.
void require(bool promise, int line = __builtin_LINE()) {
    if (!promise) {
        std::fprintf(stderr, "promise broken at %s:%d\n", __FILE__, line);
        std::abort();
    }
}

std::string crlf_to_lf(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
            continue;
        }
        out.push_back(s[i]);
    }
    return out;
}

bool has_bare_lf(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
            return true;
        }
    }
    return false;
}

bool is_upper(char c) {
    return c >= 'A' && c <= 'Z';
}

// ---------------------------------------------------------------- headers

void check_header(std::string_view name, std::string_view value) {
    const std::string relaxed = canon_header(Canon::Relaxed, name, value);
    // H2
    require(relaxed.size() >= 3 && relaxed.ends_with("\r\n"));
    const std::string_view body(relaxed.data(), relaxed.size() - 2);
    const auto colon = body.find(':');
    require(colon != std::string_view::npos);  // names hold no ':' (see below)
    const std::string_view rname = body.substr(0, colon);
    const std::string_view rvalue = body.substr(colon + 1);
    require(rvalue.find('\n') == std::string_view::npos);
    require(rvalue.find('\t') == std::string_view::npos);
    require(rvalue.find("  ") == std::string_view::npos);
    require(rvalue.empty() || (rvalue.front() != ' ' && rvalue.back() != ' '));
    for (char c : rname) {
        require(!is_upper(c));
    }
    // H1
    require(canon_header(Canon::Relaxed, rname, rvalue) == relaxed);

    // H3
    const std::string simple = canon_header(Canon::Simple, name, value);
    require(simple.ends_with("\r\n") && !has_bare_lf(simple));
    std::string raw(name);
    raw += ':';
    require(crlf_to_lf(simple) == crlf_to_lf(raw) + crlf_to_lf(value) + "\n");

    // append_canon_header() is canon_header() appended.
    std::string appended = "x";
    append_canon_header(Canon::Relaxed, name, value, appended);
    require(appended == "x" + relaxed);

    // H4
    bool clean = !name.empty();
    for (char c : name) {
        clean = clean && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
    }
    clean = clean && value.find_first_of("\r\n\t") == std::string_view::npos &&
            value.find("  ") == std::string_view::npos &&
            (value.empty() || (value.front() != ' ' && value.back() != ' '));
    if (clean) {
        require(simple == relaxed);
    }
}

// ---------------------------------------------------------------- body

struct BodyRun {
    std::string out;
    std::uint64_t length = 0;
};

// Canonicalises `body` fed in chunks of the sizes in `cuts` (cycled; a
// zero means an empty update(); at least one must not be zero).
BodyRun canon_body(Canon canon, std::string_view body, const std::vector<std::size_t>& cuts) {
    BodyCanonicalizer c(canon);
    BodyRun run;
    const ByteSink sink = [&](std::string_view piece) { run.out.append(piece); };
    std::size_t at = 0;
    std::size_t k = 0;
    while (at < body.size()) {
        const std::size_t n = cuts.empty() ? body.size() : cuts[k++ % cuts.size()];
        const std::size_t take = std::min(n, body.size() - at);
        c.update(body.substr(at, take), sink);
        at += take;
    }
    c.finish(sink);
    run.length = c.length();
    require(run.length == run.out.size());  // B6
    return run;
}

std::string whole(Canon canon, std::string_view body) {
    return canon_body(canon, body, {}).out;
}

// The clean body of B7: CRLF line breaks only, no HTAB, single SPs, none
// at a line's end or the body's end.
bool is_clean_body(std::string_view b) {
    bool non_empty_line = false;
    for (std::size_t i = 0; i < b.size(); ++i) {
        const char c = b[i];
        if (c == '\t') {
            return false;
        }
        if (c == '\r') {
            if (i + 1 >= b.size() || b[i + 1] != '\n') {
                return false;
            }
            continue;
        }
        if (c == '\n') {
            if (i == 0 || b[i - 1] != '\r') {
                return false;
            }
            continue;
        }
        if (c == ' ') {
            if (i > 0 && b[i - 1] == ' ') {
                return false;
            }
            if (i + 1 == b.size() || b[i + 1] == '\r' || b[i + 1] == '\n') {
                return false;
            }
        }
        non_empty_line = true;
    }
    return non_empty_line;
}

// A clean body with the input's printable text and line structure: CR and
// LF bytes become CRLF line breaks, HTAB becomes 'x', a SP is kept only
// between two other bytes of its line.
std::string clean_body(std::string_view b) {
    std::string out;
    bool non_empty = false;
    for (char c : b) {
        if (c == '\r' || c == '\n') {
            while (!out.empty() && out.back() == ' ') {
                out.pop_back();
            }
            out += "\r\n";
            continue;
        }
        if (c == ' ') {
            if (out.empty() || out.back() == ' ' || out.back() == '\n') {
                continue;
            }
        }
        out.push_back(c == '\t' ? 'x' : c);
        non_empty = true;
    }
    while (!out.empty() && out.back() == ' ') {
        out.pop_back();
    }
    if (!non_empty) {
        out += "a";
    }
    return out;
}

void check_body(std::string_view body, const std::vector<std::size_t>& cuts) {
    const std::string simple = whole(Canon::Simple, body);
    const std::string relaxed = whole(Canon::Relaxed, body);
    // B1
    require(canon_body(Canon::Simple, body, cuts).out == simple);
    require(canon_body(Canon::Relaxed, body, cuts).out == relaxed);
    // B2
    require(whole(Canon::Simple, simple) == simple);
    require(whole(Canon::Relaxed, relaxed) == relaxed);
    // B3
    require(whole(Canon::Relaxed, simple) == relaxed);
    // B4
    require(simple.ends_with("\r\n") && !has_bare_lf(simple));
    require(simple == "\r\n" || !simple.ends_with("\r\n\r\n"));
    // B5
    require(relaxed.empty() || relaxed.ends_with("\r\n"));
    require(!relaxed.ends_with("\r\n\r\n") && !has_bare_lf(relaxed));
    require(relaxed.find('\t') == std::string::npos && relaxed.find("  ") == std::string::npos);
    require(relaxed.find(" \r\n") == std::string::npos);
    // B7
    if (is_clean_body(body)) {
        require(simple == relaxed);
    }
    const std::string clean = clean_body(body);
    require(is_clean_body(clean));
    require(whole(Canon::Simple, clean) == whole(Canon::Relaxed, clean));
}

// ---------------------------------------------------------------- parsing

void check_parsing(std::string_view name, std::string_view value) {
    // P1
    if (auto list = parse_address_list(value)) {
        std::size_t total = 0;
        for (const auto& a : *list) {
            require(!a.empty() && a.find('@') != std::string::npos);
            total += a.size();
        }
        require(total <= value.size());
    }
    // P2
    const auto got = mailbox_list_domain(value);
    if (got.ok) {
        require(!got.domain.empty() && got.domain.back() != '.' && got.domain.front() != '[');
        for (char c : got.domain) {
            require(!is_upper(c));
        }
    }
    // P3, and author_domain() over the fields collected
    HeaderCollector headers(4, 64 + value.size() / 2);
    bool over = false;
    for (int i = 0; i < 6; ++i) {
        const bool added = headers.add(i % 2 == 0 ? std::string_view("From") : name, value);
        over = over || !added;
        require(added == !headers.overflowed());
        require(headers.fields().size() <= 4 && headers.bytes() <= 64 + value.size() / 2);
    }
    require(over == headers.overflowed());
    const auto author = author_domain(headers.fields());
    if (author.ok) {
        require(!author.domain.empty());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    const unsigned flags = data[0];
    const auto nul = input.find('\0');
    std::string_view name =
        nul == std::string_view::npos ? std::string_view("Subject") : input.substr(0, nul);
    const std::string_view rest = nul == std::string_view::npos ? input : input.substr(nul + 1);
    // A field name ends at its colon and is not folded: it holds no colon,
    // CR or LF (RFC 5322 §2.2).
    if (name.find_first_of(":\r\n") != std::string_view::npos) {
        name = "X-Odd";
    }
    check_header(name, rest);
    check_parsing(name, rest);
    // Chunk sizes: 1..8, or a mix with empty updates.
    std::vector<std::size_t> cuts{(flags & 7U) + 1U, 0, ((flags >> 3) & 15U) + 1U};
    if ((flags & 0x80U) != 0) {
        cuts = {1};
    }
    check_body(rest, cuts);
    return 0;
}
