// csv.hpp - the CSV file format of `staffelctl suppress import` and
// `export`: a streaming reader and a writer.
//
// Purpose: admins move suppression lists between Staffel and other tools
//   (ESPs, CRMs, spreadsheets) in this format; it is a public interface.
// Format:
//   - The first line is the header, exactly
//       address,reason,scope,streams,expires,source,added
//     as the writer writes it, or the older form without the added column
//       address,reason,scope,streams,expires,source
//     (a UTF-8 byte order mark before it is ignored). Then one entry per
//     record, the header's fields (seven or six) in that order.
//   - Quoting as in RFC 4180: a field holding ',', '"', CR or LF is put in
//     double quotes, a '"' inside doubled (""). Records end with LF or
//     CRLF (the writer uses LF); a quoted field may span lines. Empty
//     lines are skipped.
//   - address  an address, normalised like every lookup (normalise_address
//              with the policy's fold rule), or "h:" and 64 hex digits: an
//              address already hashed with the store's secret, as export
//              writes it when hashing is on
//   - reason   hard_bounce | complaint | unsubscribe | manual | invalid
//   - scope    empty (or "*") = global, else the sender domain the entry is
//              limited to
//   - streams  "*" = every stream; names joined by ";" (letters, digits,
//              '-', '_', '.'); empty = the reason's default (default_streams)
//   - expires  empty (or "0") = never; a duration of at least 1s from
//              now, as `suppress add --expires` takes it ("30d", "12h");
//              an RFC 3339 time such as 2027-01-31T00:00:00Z (the
//              writer's form; an offset such as +02:00 and fractions of a
//              second are accepted); or epoch seconds
//   - source   free text; "|" and control characters are dropped
//              (clean_source); empty = the importer chooses
//   - added    when the entry was added (the "since" of staffeld's 550
//              replies): an RFC 3339 time or epoch seconds; empty (or "0")
//              = the importer chooses (the time of the import)
// Thread-safety: SuppressCsvReader is one parse, used by one thread;
//   everything else is pure.
// Errors: each record yields a row or an error naming its line (the line
//   a record starts on), the field (column number and name) and what would
//   be accepted. A record longer than kMaxCsvRecord bytes is an error; the
//   reader skips to the next line and goes on.
// Outside input: the whole file; every field is bounded and validated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/rfc3339.hpp"  // format_rfc3339_utc, once declared here
#include "core/suppress/suppress.hpp"

namespace staffel::core {

// What the writer writes; the reader also takes kSuppressCsvHeaderNoAdded.
inline constexpr std::string_view kSuppressCsvHeader =
    "address,reason,scope,streams,expires,source,added";
inline constexpr std::string_view kSuppressCsvHeaderNoAdded =
    "address,reason,scope,streams,expires,source";
inline constexpr std::size_t kMaxCsvRecord = 4096;  // bytes, line breaks included

// One data record of the file, validated and normalised.
struct SuppressCsvRow {
    std::string address;  // normalised, or "h:" + 64 lower-case hex digits
    bool hashed = false;  // address is "h:HEX"
    SuppressReason reason = SuppressReason::Manual;
    std::string scope;                 // normalised domain; "" = global
    std::vector<std::string> streams;  // empty = every stream (defaults applied)
    std::int64_t expires_at = 0;       // epoch seconds; 0 = never
    std::string source;                // cleaned; "" = none given
    std::int64_t added_at = 0;         // epoch seconds; 0 = none given
    bool operator==(const SuppressCsvRow&) const = default;
};

// What the reader yields per record.
struct SuppressCsvRecord {
    std::size_t line = 0;  // where the record starts, 1-based (the header is line 1)
    bool header = false;   // this is the header check: `row` is unset on success
    Result<SuppressCsvRow> row = make_error("");
    // "LINE: message", for "FILE:LINE: message".
    [[nodiscard]] std::string error_text() const;
};

struct SuppressCsvOptions {
    AddressRules rules;
    // Converts IDN domains of addresses and scopes; none = refused. The
    // libidn2 adapter (adapters/idn) plugs in here.
    DomainToAscii idna;
    // The policy's suppression.unsubscribe_streams, for empty streams.
    std::vector<std::string> unsubscribe_streams{"bulk"};
    // "h:HEX" addresses are accepted only when the target store hashes.
    bool accept_hashed = false;
    // Epoch seconds; when > 0, an expiry at or before it is refused.
    std::int64_t now = 0;
};

// A streaming reader: feed() the file in chunks of any size, take records
// with next() until it answers nullopt, feed more; finish() at end of
// input, then next() yields what is left. The header is the first record
// (header = true): an error if it is not exactly kSuppressCsvHeader or
// kSuppressCsvHeaderNoAdded; it sets how many fields every record has.
class SuppressCsvReader {
  public:
    explicit SuppressCsvReader(SuppressCsvOptions options);

    void feed(std::string_view chunk);
    void finish();
    std::optional<SuppressCsvRecord> next();

    // Records yielded so far, the header included.
    [[nodiscard]] std::size_t records() const { return records_; }

  private:
    // The end of the record starting at pos_ (its unquoted line break, or
    // the end of input once finished); npos while more input is needed.
    std::size_t find_record_end(std::size_t& breaks) const;
    SuppressCsvRecord parse(std::string_view text, std::size_t line);
    void compact();

    SuppressCsvOptions options_;
    std::string buffer_;
    std::size_t pos_ = 0;   // start of the unread part of buffer_
    std::size_t line_ = 1;  // line number at pos_
    std::size_t records_ = 0;
    bool finished_ = false;
    std::size_t fields_ = 6;  // per record, as the header says
    bool skipping_ = false;   // discarding an overlong record up to its line end
    std::size_t skipping_line_ = 0;
};

// Single fields, as the reader parses them (messages without the column).
// Exposed for staffelctl, whose options accept the same spellings.
// expires: a duration counts from `now` (refused when now is 0); with now
// > 0, a time at or before it is refused.
Result<std::int64_t> parse_csv_expires(std::string_view text, std::int64_t now = 0);
// added: 0 for empty or "0".
Result<std::int64_t> parse_csv_added(std::string_view text);
Result<std::vector<std::string>> parse_csv_streams(
    std::string_view text, SuppressReason reason,
    const std::vector<std::string>& unsubscribe_streams);
// "h:" (or "H:") and no "@": meant as an already-hashed address.
bool looks_hashed(std::string_view address);
// "h:" and 64 hex digits, returned in lower case; else an error saying so.
Result<std::string> parse_hashed_address(std::string_view text);
// A stream name: 1..64 of letters, digits, '-', '_', '.'.
bool valid_stream_name(std::string_view name);

// One field, quoted when it holds ',', '"', CR or LF (RFC 4180).
std::string csv_field(std::string_view text);
// The header line (kSuppressCsvHeader), "\n"-terminated.
std::string suppress_csv_header_line();
// One record for an entry, "\n"-terminated, with the added column (empty
// when added_at is 0). `entry.address` is written as is (a normalised
// address, or "h:HEX" when stored hashed).
std::string format_suppress_csv_row(const SuppressionEntry& entry);

}  // namespace staffel::core
