// canon.cpp - see canon.hpp.
#include "core/dkim/canon.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>

#include "core/text.hpp"

namespace staffel::core {
namespace {

constexpr std::string_view kCrlf = "\r\n";

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

bool is_line_end(char c) {
    return c == '\r' || c == '\n';
}

// Blank lines are sent from here, a block at a time, whatever their count.
constexpr std::size_t kCrlfBlock = 256;
constexpr std::array<char, 2 * kCrlfBlock> make_crlfs() {
    std::array<char, 2 * kCrlfBlock> a{};
    for (std::size_t i = 0; i < a.size(); i += 2) {
        a[i] = '\r';
        a[i + 1] = '\n';
    }
    return a;
}
constexpr std::array<char, 2 * kCrlfBlock> kCrlfs = make_crlfs();

void append_simple(std::string_view name, std::string_view value, std::string& out) {
    out.append(name);
    out.push_back(':');
    std::size_t start = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) {
            out.append(value.substr(start, i - start));
            out.append(kCrlf);
            start = i + 1;
        }
    }
    out.append(value.substr(start));
    out.append(kCrlf);
}

void append_relaxed(std::string_view name, std::string_view value, std::string& out) {
    while (!name.empty() && is_wsp(name.back())) {  // obsolete "Name :"
        name.remove_suffix(1);
    }
    for (char c : name) {
        out.push_back(ascii_lower(c));
    }
    out.push_back(':');
    bool space = false;    // a WSP run after some text, not yet written
    bool started = false;  // some text written: leading WSP is dropped
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {
            ++i;  // unfold
            continue;
        }
        if (c == '\n') {
            continue;  // unfold a bare-LF fold as well
        }
        if (is_wsp(c)) {
            space = started;
            continue;
        }
        if (space) {
            out.push_back(' ');
            space = false;
        }
        out.push_back(c);
        started = true;
    }
    out.append(kCrlf);  // trailing WSP was never written
}

// Where a run of bytes that go out unchanged ends, for a run that starts at
// `i` with a byte that is neither a line end nor (relaxed) whitespace.
// Simple: everything up to the next line end; a CR is left to the caller
// when an LF follows it or the chunk ends with it.
std::size_t simple_run_end(std::string_view chunk, std::size_t i) {
    const void* lf = std::memchr(chunk.data() + i, '\n', chunk.size() - i);
    std::size_t end = lf == nullptr
                          ? chunk.size()
                          : static_cast<std::size_t>(static_cast<const char*>(lf) - chunk.data());
    if (chunk[end - 1] == '\r') {
        --end;
    }
    return end;
}

// Relaxed: up to a line end or whitespace, except that one SP between two
// ordinary bytes is canonical already and stays in the run.
std::size_t relaxed_run_end(std::string_view chunk, std::size_t i) {
    const std::size_t n = chunk.size();
    std::size_t j = i + 1;
    while (j < n && !is_line_end(chunk[j])) {
        if (is_wsp(chunk[j])) {
            const bool lone_sp =
                chunk[j] == ' ' && j + 1 < n && !is_wsp(chunk[j + 1]) && !is_line_end(chunk[j + 1]);
            if (!lone_sp) {
                break;
            }
            ++j;
        }
        ++j;
    }
    return j;
}

}  // namespace

Result<Canon> parse_canon(std::string_view text) {
    if (text == "simple") {
        return Canon::Simple;
    }
    if (text == "relaxed") {
        return Canon::Relaxed;
    }
    return make_error("unknown canonicalization \"" + std::string(text) +
                      "\"; expected \"simple\" or \"relaxed\"");
}

Result<CanonPair> parse_canon_pair(std::string_view text) {
    auto bad = [&] {
        return make_error("bad canonicalization \"" + std::string(text) + "\"; expected " +
                          std::string(kCanonHint));
    };
    const auto slash = text.find('/');
    auto header = parse_canon(text.substr(0, slash));
    if (!header) {
        return bad();
    }
    CanonPair pair{*header, Canon::Simple};
    if (slash != std::string_view::npos) {
        auto body = parse_canon(text.substr(slash + 1));
        if (!body) {
            return bad();
        }
        pair.body = *body;
    }
    return pair;
}

std::string_view to_string(Canon canon) {
    return canon == Canon::Relaxed ? "relaxed" : "simple";
}

std::string to_string(CanonPair pair) {
    std::string s(to_string(pair.header));
    s.push_back('/');
    s.append(to_string(pair.body));
    return s;
}

void append_canon_header(Canon canon, std::string_view name, std::string_view value,
                         std::string& out) {
    out.reserve(out.size() + name.size() + value.size() + 8);
    if (canon == Canon::Relaxed) {
        append_relaxed(name, value, out);
    } else {
        append_simple(name, value, out);
    }
}

std::string canon_header(Canon canon, std::string_view name, std::string_view value) {
    std::string out;
    append_canon_header(canon, name, value, out);
    return out;
}

// Gathers small pieces of output on the stack and hands them to the sink in
// blocks; large slices of the input go to the sink as they are. Lives for
// one update() or finish() call, so the canonicaliser itself stays small.
class BodyCanonicalizer::Output {
  public:
    // buf_ is left uninitialised: it is written before it is read, and
    // zeroing it on every chunk would be wasted work.
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init)
    Output(const ByteSink& sink, std::uint64_t& length) : sink_(sink), length_(length) {}
    Output(const Output&) = delete;
    Output(Output&&) = delete;
    Output& operator=(const Output&) = delete;
    Output& operator=(Output&&) = delete;
    ~Output() = default;

    void put(std::string_view bytes) {
        if (bytes.size() > buf_.size() - used_) {
            flush();
            if (bytes.size() >= buf_.size()) {
                send(bytes);
                return;
            }
        }
        std::memcpy(buf_.data() + used_, bytes.data(), bytes.size());
        used_ += bytes.size();
    }

    void put_crlfs(std::uint64_t count) {
        while (count > 0) {
            const auto lines = static_cast<std::size_t>(std::min<std::uint64_t>(count, kCrlfBlock));
            put(std::string_view(kCrlfs.data(), 2 * lines));
            count -= lines;
        }
    }

    // Whether this body has produced any byte so far, sent or not.
    [[nodiscard]] bool wrote_any() const { return length_ > 0 || used_ > 0; }

    void flush() {
        if (used_ > 0) {
            const std::size_t n = used_;
            used_ = 0;
            send(std::string_view(buf_.data(), n));
        }
    }

  private:
    void send(std::string_view bytes) {
        sink_(bytes);
        length_ += bytes.size();
    }

    const ByteSink& sink_;
    std::uint64_t& length_;
    std::size_t used_ = 0;
    std::array<char, kOutputPiece> buf_;
};

void BodyCanonicalizer::update(std::string_view chunk, const ByteSink& sink) {
    assert(!finished_ && "BodyCanonicalizer::update() after finish()");
    Output out(sink, length_);
    std::size_t i = 0;
    if (pending_cr_ && !chunk.empty()) {
        pending_cr_ = false;
        if (chunk[0] == '\n') {
            end_line(out);
            i = 1;
        } else {
            content("\r", out);
        }
    }
    while (i < chunk.size()) {
        i = scan(chunk, i, out);
    }
    out.flush();
}

void BodyCanonicalizer::finish(const ByteSink& sink) {
    assert(!finished_ && "BodyCanonicalizer::finish() twice");
    Output out(sink, length_);
    if (pending_cr_) {
        pending_cr_ = false;
        content("\r", out);
    }
    pending_wsp_ = false;  // relaxed: whitespace ending the last line goes
    if (!at_line_start_) {
        out.put(kCrlf);  // the missing final CRLF
        at_line_start_ = true;
    }
    pending_empty_lines_ = 0;  // trailing empty lines go
    if (canon_ == Canon::Simple && !out.wrote_any()) {
        out.put(kCrlf);  // simple: an empty body is one CRLF
    }
    out.flush();
    finished_ = true;
}

// Consumes one item of `chunk` from `i`: a line end, a WSP run (relaxed),
// or a run of other bytes. Returns where the next item starts.
std::size_t BodyCanonicalizer::scan(std::string_view chunk, std::size_t i, Output& out) {
    const std::size_t n = chunk.size();
    const bool relaxed = canon_ == Canon::Relaxed;
    const char c = chunk[i];
    if (c == '\n') {
        end_line(out);
        return i + 1;
    }
    if (c == '\r') {
        if (i + 1 == n) {
            pending_cr_ = true;  // its LF may open the next chunk
            return n;
        }
        if (chunk[i + 1] == '\n') {
            end_line(out);
            return i + 2;
        }
        // A CR without LF is an ordinary byte: it opens the run below.
    } else if (relaxed && is_wsp(c)) {
        std::size_t j = i + 1;
        while (j < n && is_wsp(chunk[j])) {
            ++j;
        }
        pending_wsp_ = true;
        return j;
    }
    const std::size_t j = relaxed ? relaxed_run_end(chunk, i) : simple_run_end(chunk, i);
    assert(j > i);
    content(chunk.substr(i, j - i), out);
    return j;
}

// Bytes of the current line that are final as soon as they are seen. What
// was held back before them is now final too.
void BodyCanonicalizer::content(std::string_view bytes, Output& out) {
    if (at_line_start_) {
        out.put_crlfs(pending_empty_lines_);
        pending_empty_lines_ = 0;
        at_line_start_ = false;
    }
    if (pending_wsp_) {
        out.put(" ");
        pending_wsp_ = false;
    }
    out.put(bytes);
}

void BodyCanonicalizer::end_line(Output& out) {
    pending_wsp_ = false;  // relaxed: whitespace at the end of a line goes
    if (at_line_start_) {
        ++pending_empty_lines_;  // empty so far: kept back as a count
    } else {
        out.put(kCrlf);
        at_line_start_ = true;
    }
}

}  // namespace staffel::core
