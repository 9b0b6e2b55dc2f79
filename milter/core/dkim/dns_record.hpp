// dns_record.hpp - DKIM public-key records (RFC 6376 §3.6.1, RFC 8463 §4)
// and the zone-file TXT text that carries them.
//
// Purpose: the pure half of `staffelctl dkim keygen` and `dkim check`:
//   builds a key record and prints it as a zone-file TXT record split into
//   character-strings of at most 255 bytes; reads such text back (one or
//   many records, master-file syntax of RFC 1035 §5.1: parentheses over
//   several lines, ';' comments, quoted strings with \X and \DDD escapes,
//   $ORIGIN, '@' and blank owners); parses a record's tag-list (RFC 6376
//   §3.2) and tells whether it publishes a given key. No I/O: the caller
//   reads files and asks DNS (app/dns_txt.hpp).
// Thread-safety: pure functions.
// Errors: Result values. Zone-text errors start with "line N: ".
// Outside input: DNS answers and admin-written zone files, both untrusted
//   to be well-formed; everything is bounded by the input's own size.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/dkim/signer.hpp"
#include "core/result.hpp"

namespace staffel::core {

// The longest character-string a TXT record can hold (RFC 1035 §3.3).
inline constexpr std::size_t kMaxCharacterString = 255;

// ---------------------------------------------------------------- names

// "example.com" lower-cased, one trailing dot removed: names compare equal
// after this. No validation.
std::string normalize_dns_name(std::string_view name);

// A DKIM d= domain as staffelctl accepts it: LDH labels (letters, digits,
// '-' not at either end of a label), at most 63 bytes each and 253 in all,
// one trailing dot allowed. Returns it lower-cased without the dot.
Result<std::string> check_dkim_domain(std::string_view text);

// A selector: labels as a domain's, where '_' is also allowed. Returned
// without a trailing dot, case kept.
Result<std::string> check_dkim_selector(std::string_view text);

// "SELECTOR._domainkey.DOMAIN", normalised.
std::string dkim_record_name(std::string_view selector, std::string_view domain);

// ---------------------------------------------------------------- key records

// The k= of an algorithm: "rsa" or "ed25519".
std::string_view dkim_key_type(DkimAlgorithm algorithm);

// "v=DKIM1; k=rsa; p=BASE64" (the record text, unsplit).
std::string make_dkim_key_record(DkimAlgorithm algorithm, std::string_view p_base64);

// The record as the character-strings keygen prints: "v=DKIM1; k=TYPE; ",
// then p= cut into pieces of at most 255 bytes. Concatenated, they give
// make_dkim_key_record().
std::vector<std::string> dkim_key_record_strings(DkimAlgorithm algorithm,
                                                 std::string_view p_base64);

struct DkimKeyRecord {
    std::string key_type = "rsa";              // k=, default rsa
    std::string public_key;                    // p= without whitespace; empty: revoked
    std::vector<std::string> hash_algorithms;  // h=; empty: any
    std::vector<std::string> service_types;    // s=; empty: "*"
};

// Parses a key record's tag-list: v= (optional, first, "DKIM1"), k=, p=
// (required, base64, whitespace allowed inside), h=, s=; other tags are
// ignored. Refused: a tag without '=', a bad tag name, a tag given twice,
// a missing p=, a p= that is not base64, v= not first or not DKIM1.
Result<DkimKeyRecord> parse_dkim_key_record(std::string_view text);

enum class KeyRecordMatch { Match, Mismatch, Revoked, Invalid };

struct KeyRecordVerdict {
    KeyRecordMatch match = KeyRecordMatch::Invalid;
    std::string detail;  // why, for Mismatch and Invalid; empty otherwise

    // "match", "MISMATCH: DETAIL", "revoked (empty p=)", "record invalid: DETAIL".
    [[nodiscard]] std::string to_string() const;
};

// Does the record text publish the key whose p= value is `expected_p`
// (adapters::public_key_dns_base64) for `algorithm`? An empty p= is a
// revoked key; k=, h= and s= must allow the algorithm and email.
KeyRecordVerdict check_dkim_key_record(std::string_view record_text, DkimAlgorithm algorithm,
                                       std::string_view expected_p);

// The verdict over every TXT record found at one name: a match if any
// record matches, else the first that is a DKIM key record at all (revoked
// or mismatch), else the first's. Several records are noted in the detail.
KeyRecordVerdict check_dkim_key_records(const std::vector<std::string>& record_texts,
                                        DkimAlgorithm algorithm, std::string_view expected_p);

// ---------------------------------------------------------------- zone text

// `text` cut into pieces of at most `max` bytes (one empty piece for "").
std::vector<std::string> split_character_strings(std::string_view text,
                                                 std::size_t max = kMaxCharacterString);

// One zone-file TXT record, ready to paste:
//   NAME. IN TXT ( "first"
//       "second" )
// Every string is quoted; '"', '\' and bytes outside 0x20..0x7e are escaped.
std::string format_zone_txt(std::string_view name, const std::vector<std::string>& strings);

struct ZoneTxtRecord {
    std::string name;  // normalised (normalize_dns_name)
    std::string text;  // the character-strings concatenated
    std::size_t line = 0;
};

// Every TXT record of a master-file text; records of other types are
// skipped. A name without a trailing dot is relative to $ORIGIN when one
// was set, else taken as written. Refused: unbalanced parentheses or
// quotes, a character-string over 255 bytes, a TXT record without strings,
// $INCLUDE and other directives than $ORIGIN and $TTL.
Result<std::vector<ZoneTxtRecord>> parse_zone_txt(std::string_view zone);

}  // namespace staffel::core
