// canon.hpp - DKIM canonicalisation (RFC 6376 §3.4) of header fields and body.
//
// Purpose: turn one header field, or the body as it streams in, into the
//   exact bytes a DKIM signer hashes. "simple" and "relaxed", for headers and
//   body alike. Pure: no I/O, no hashing, no OpenSSL; the caller feeds the
//   canonical bytes to its hash (one body hash per body canonicalisation,
//   shared by every signature that uses it).
// Input: header fields as libmilter's xxfi_header() gives them with
//   SMFIP_HDR_LEADSPC (name without the colon; value = every byte after the
//   colon, leading whitespace and folding line breaks included, without the
//   field's own terminating line break). Body chunks as xxfi_body() gives
//   them, split anywhere. Line breaks may be CRLF or a bare LF (Postfix can
//   hand either); both mean a line end and come out as CRLF. A CR not
//   followed by LF is an ordinary byte. Any byte value passes through: 8-bit
//   and non-UTF-8 text is not looked at, let alone validated.
// Memory: BodyCanonicalizer is a small fixed-size value that never
//   allocates. Trailing empty lines are held back as a count and a run of
//   whitespace as a flag, so a body of 100 MB of blanks costs nothing.
// Thread-safety: the functions are pure; a BodyCanonicalizer belongs to one
//   message, used by one thread at a time.
// Errors: parsing of policy text returns Result. Canonicalisation cannot
//   fail; whatever the sink throws (std::bad_alloc) passes through.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace staffel::core {

enum class Canon { Simple, Relaxed };

// The c= tag's pair: header algorithm, then body algorithm.
struct CanonPair {
    Canon header = Canon::Simple;
    Canon body = Canon::Simple;
    bool operator==(const CanonPair&) const = default;
};

// "simple" or "relaxed" (case-sensitive, as DKIM tag values are).
Result<Canon> parse_canon(std::string_view text);

// "HEADER/BODY" ("relaxed/relaxed", "relaxed/simple", ...), or one name
// alone, which per RFC 6376 §3.5 is the header algorithm with a "simple"
// body ("relaxed" is "relaxed/simple").
Result<CanonPair> parse_canon_pair(std::string_view text);

// "simple" / "relaxed"; and the pair as the c= tag spells it in full.
std::string_view to_string(Canon canon);
std::string to_string(CanonPair pair);

inline constexpr std::string_view kCanonHint =
    "\"simple\", \"relaxed\", or HEADER/BODY such as \"relaxed/relaxed\" or \"relaxed/simple\"";

// One header field as it goes into the header hash: "name:value\r\n".
//   Simple: name and value byte for byte, each folding line break (CRLF or
//   bare LF) written as CRLF. Relaxed: name lower-cased (ASCII) without the
//   whitespace an obsolete "Name :" leaves before the colon; value unfolded,
//   each run of SP/HTAB made one SP, whitespace at both ends removed.
// The DKIM-Signature field itself is hashed without its final CRLF: the
// signer drops the last two bytes of this function's result for it.
std::string canon_header(Canon canon, std::string_view name, std::string_view value);

// The same, appended to `out` (lets a signer build the whole header hash
// input in one buffer).
void append_canon_header(Canon canon, std::string_view name, std::string_view value,
                         std::string& out);

// Receives canonical body bytes, in order, each byte once.
using ByteSink = std::function<void(std::string_view)>;

// Streams a body through simple or relaxed canonicalisation.
//   update() may be called any number of times with chunks split anywhere;
//   on its return every byte that is already final has gone to `sink` (what
//   is held back: trailing empty lines, a whitespace run, a CR whose LF may
//   be next). finish() ends the body and sends the rest. Bytes arrive at
//   `sink` in pieces of at most kOutputPiece bytes, or as slices of the
//   caller's own chunk.
//   Simple: trailing empty lines dropped; a missing final CRLF added; an
//   empty body becomes "\r\n".
//   Relaxed: whitespace at line ends dropped, runs of SP/HTAB inside a line
//   made one SP, trailing empty lines (including lines left empty by that)
//   dropped; an empty body stays empty (RFC 6376 §3.4.4, which took in
//   RFC 4871 erratum 1384), any other ends in CRLF.
// update() or finish() after finish() is a bug (assert); reset() starts a
// new body with the same algorithm. If the sink throws, the body is lost:
// reset() before reusing the object.
class BodyCanonicalizer {
  public:
    static constexpr std::size_t kOutputPiece = 4096;

    explicit BodyCanonicalizer(Canon canon) : canon_(canon) {}

    void update(std::string_view chunk, const ByteSink& sink);
    void finish(const ByteSink& sink);
    void reset() { *this = BodyCanonicalizer(canon_); }

    // Canonical bytes sent to the sinks so far: the body length for l=
    // once finish() has run.
    [[nodiscard]] std::uint64_t length() const { return length_; }
    [[nodiscard]] Canon canon() const { return canon_; }
    // Empty lines held back in case the body ends after them (a count, not
    // a buffer); for tests and diagnostics.
    [[nodiscard]] std::uint64_t pending_empty_lines() const { return pending_empty_lines_; }

  private:
    class Output;

    void content(std::string_view bytes, Output& out);
    void end_line(Output& out);
    std::size_t scan(std::string_view chunk, std::size_t i, Output& out);

    Canon canon_;
    bool at_line_start_ = true;  // nothing of the current line sent yet
    bool pending_cr_ = false;    // the last chunk ended in CR
    bool pending_wsp_ = false;   // relaxed: a SP/HTAB run not yet sent
    bool finished_ = false;
    std::uint64_t pending_empty_lines_ = 0;
    std::uint64_t length_ = 0;
};

}  // namespace staffel::core
