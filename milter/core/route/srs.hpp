// srs.hpp - the Sender Rewriting Scheme: envelope senders of forwarded mail
// rewritten onto a bounce domain, and bounces decoded back.
//
// Purpose: a route that relays mail for other domains rewrites the envelope
//   sender into an SRS0 address on its bounce domain (so SPF checks the
//   relay, not the original sender), and decodes such addresses when a
//   bounce comes home, refusing forged and expired ones. The format is the
//   one of libsrs2 as used by postsrsd 1.10 (Debian 12), so that either side
//   decodes what the other made with the same secrets and domain. Checked
//   against the real postsrsd by tests/integration/test_srs_postsrsd.py.
// Format (every "=" after the first separator is literal; SEP is
//   SrsConfig::separator, one of "=+-"; tags and separators are recognised
//   case-insensitively and with any of the three separators on input):
//     SRS0 SEP HASH "=" TT "=" DOMAIN "=" LOCAL "@" SRS-DOMAIN
//       TT    the day: floor(now / 86400) mod 1024, as two base32 characters
//             (RFC 4648 alphabet "A-Z2-7", high five bits first)
//       HASH  the first four characters of the standard base64 (A-Za-z0-9+/)
//             of HMAC-SHA1(secret, TT DOMAIN LOCAL), the three strings
//             concatenated without separators and ASCII-lowercased first
//     SRS1 SEP HASH "=" HOST "=" REST "@" SRS-DOMAIN
//       made from an SRS0 address LOCAL@HOST of another domain: REST is
//       LOCAL without its "SRS0" tag (it starts with that address's
//       separator), HASH is over HOST REST. An SRS1 address of another
//       domain keeps its HOST and REST and is signed again. Decoding an SRS1
//       address gives "SRS0" REST "@" HOST, the first forwarder's address;
//       its timestamp is that forwarder's to check.
// Verification: the hash is compared on its first four characters, case-
//   insensitively (some MTAs lowercase local parts); a longer hash field is
//   accepted on those four, as postsrsd does. Every secret is tried; only
//   the first signs, so a retired secret stays in the list until the
//   addresses it signed expire. A timestamp is valid from its own day to
//   max_age_days later (21 days old: valid; 22: expired); a timestamp from
//   the future counts as nearly 1024 days old.
// Differences from postsrsd: the hash is checked before the age (so a
//   forged address reads "hash does not match", not "expired"; what is
//   accepted is the same); forward refuses empty, quoted or over-long
//   (RFC 5321) parts, which postsrsd would rewrite into unusable addresses,
//   and reverse refuses postsrsd's rewrites of such senders (an empty local
//   part or domain); a local part that is exactly "SRS0" or "SRS1" is a
//   plain local part here (postsrsd: an SRS0 address with nothing after the
//   tag; either decodes the other's rewrite of it); forward splits at the
//   last "@" (postsrsd: the first) and refuses a local part containing "@".
//   Like postsrsd, reverse does not look at the domain after "@" (the hash
//   does not cover it): the caller decides which domains it decodes.
// Limits: an address is at most 254 octets (RFC 5321 path of 256 less the
//   angle brackets), in and out; a plain local part at most 64 octets, a
//   domain at most 255. SRS local parts themselves may exceed 64 octets,
//   as everywhere SRS is used.
// Thread-safety: pure functions; the HmacSha1 given must be callable from
//   several threads at once if these are.
// Errors: Result values with a message fit for a log line or an SMTP reply;
//   secrets never appear in them.
// Outside input: the addresses (MAIL FROM of relayed mail, RCPT TO of
//   bounces) come from SMTP clients; everything is bounded and checked.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace staffel::core {

// The raw 20-byte HMAC-SHA1 digest of message under key, or an empty string
// if the crypto library failed. adapters/openssl/hmac.hpp provides one.
using HmacSha1 = std::function<std::string(std::string_view key, std::string_view message)>;

struct SrsConfig {
    std::string domain;                // the bounce domain SRS addresses are made on
    std::vector<std::string> secrets;  // the first signs, all verify; none empty
    int max_age_days = 21;             // 1..1023
    char separator = '=';              // after "SRS0"/"SRS1": one of = + -
};

// Bounds of SrsConfig::max_age_days (the timestamp wraps after 1024 days).
inline constexpr int kSrsMaxAgeMin = 1;
inline constexpr int kSrsMaxAgeMax = 1023;

// Checks a configuration: domain, secrets, max age and separator. The
// message names the field and what would be accepted. srs_forward and
// srs_reverse check it too.
Result<bool> check_srs_config(const SrsConfig& config);

// True when the local part of address (all of it if it has no "@") starts
// with an SRS0 or SRS1 tag and a separator, in any case.
bool is_srs_address(std::string_view address);

// Rewrites an envelope sender at now (seconds since the epoch): SRS0 for a
// plain address, SRS1 for an SRS0/SRS1 address of another domain, the
// address unchanged if its domain is config.domain (any case). Errors: a
// bad config, no "@", empty or over-long parts, characters an unquoted
// local part or a domain cannot hold, a malformed SRS1 address, a result
// over 254 octets, an HMAC failure.
Result<std::string> srs_forward(const SrsConfig& config, std::string_view address, std::int64_t now,
                                const HmacSha1& hmac);

// Decodes an SRS address at now: SRS0 gives the original sender, SRS1 the
// first forwarder's SRS0 address. Errors, in the order checked (after a
// bad config):
//   "address too long (N octets, max 254)"
//   "not an SRS address"
//   "malformed SRS0 address: ..." / "malformed SRS1 address: ..."
//   "hash does not match (tampered or wrong secret)"
//   "timestamp expired (N days old, max M)"  (SRS0 only)
Result<std::string> srs_reverse(const SrsConfig& config, std::string_view address, std::int64_t now,
                                const HmacSha1& hmac);

}  // namespace staffel::core
