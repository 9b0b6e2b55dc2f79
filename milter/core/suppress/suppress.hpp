// suppress.hpp - suppression entries: the model, address normalisation,
// store keys and the stored value format.
//
// Purpose: an address that hard-bounced, complained or unsubscribed must not
//   be mailed again. Entries live in the suppression store (Redis, shared by
//   every node: adapters/redis/suppression_store); this header is what the
//   session, staffelctl and the store agree on.
// Store layout (public: admins' scripts read it):
//   key    PREFIX "s:" SCOPE ":" ADDRESS
//            SCOPE   "*" for a global entry, else the sender domain it is
//                    limited to (normalised like an address's domain)
//            ADDRESS the normalised address, or with hashing on "h:" and the
//                    hex HMAC-SHA-256 of it under the policy's secret
//   value  "1|REASON|STREAMS|ADDED|EXPIRES|SOURCE"
//            REASON  hard_bounce | complaint | unsubscribe | manual | invalid
//            STREAMS "*" (every stream) or stream names joined by ","
//            ADDED   epoch seconds; EXPIRES epoch seconds, 0 = never (the key
//                    also carries the matching TTL)
//            SOURCE  free text without "|" and control characters, e.g.
//                    "staffelctl", "dsn", "arf", "import:FILE:LINE"
//   soft-bounce counters: PREFIX "sb:" ADDRESS (same ADDRESS form), an
//   integer with the policy's window as TTL.
//   changes: PREFIX "suppress:changes", a stream (capped, MAXLEN ~ 100000)
//            with one entry "k" KEY per entry key written, in the same
//            transaction as the write; each node's local view reads it.
//            Scripts that write entries themselves should add to it too,
//            or nodes with a local view see their entries only after
//            their next rescan ([suppression] local_view_rescan).
// Thread-safety: plain values and pure functions.
// Outside input: addresses come from SMTP clients, bounce messages and CSV
//   files; normalise_address() bounds and validates them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest.hpp"
#include "core/result.hpp"

namespace staffel::core {

enum class SuppressReason { HardBounce, Complaint, Unsubscribe, Manual, Invalid };

std::string_view reason_name(SuppressReason r);
std::optional<SuppressReason> parse_reason(std::string_view name);

struct SuppressionEntry {
    std::string address;  // normalised address, or "h:HEX" when stored hashed
    SuppressReason reason = SuppressReason::Manual;
    std::string scope;                 // "" = global, else a sender domain
    std::vector<std::string> streams;  // empty = every stream
    std::int64_t added_at = 0;         // epoch seconds
    std::int64_t expires_at = 0;       // epoch seconds; 0 = never
    std::string source;

    [[nodiscard]] bool blocks_every_stream() const { return streams.empty(); }
    [[nodiscard]] bool blocks(std::string_view stream) const;
    bool operator==(const SuppressionEntry&) const = default;
};

// The streams an entry of this reason blocks unless told otherwise:
// unsubscribes block `unsubscribe_streams`, every other reason all streams.
std::vector<std::string> default_streams(SuppressReason r,
                                         const std::vector<std::string>& unsubscribe_streams);

// The SMTP reply code and enhanced status for refusing a recipient because
// of this reason: 550 5.1.1 (hard_bounce, invalid), else 550 5.7.1.
struct SuppressReply {
    std::string rcode;
    std::string xcode;
};
SuppressReply reply_for(SuppressReason r);

// Converts a non-ASCII (UTF-8) domain to its IDNA A-label form; the
// adapter behind it is libidn2. Called only for domains with a byte >= 0x80.
using DomainToAscii = std::function<Result<std::string>(std::string_view utf8_domain)>;

struct AddressRules {
    bool fold_local_part = true;  // lower-case the local part (ASCII only)
};

// Normalises an address for lookup and storage: optional angle brackets and
// surrounding spaces removed, the domain lower-cased and (if non-ASCII) put
// in A-label form, the local part lower-cased when rules say so. Refused:
// no "@", an empty part, a local part over 64 bytes, a domain over 253,
// spaces, control bytes, "|" or quoted local parts. Without `idna`,
// non-ASCII domains are refused.
Result<std::string> normalise_address(std::string_view address, const AddressRules& rules,
                                      const DomainToAscii& idna = {});
// The same for a bare domain (a scope).
Result<std::string> normalise_domain(std::string_view domain, const DomainToAscii& idna = {});

// Builds store keys for one policy: the prefix and, with hashing on, the
// secret. HMAC-SHA-256 is computed over the normalised address.
class SuppressionKeys {
  public:
    SuppressionKeys(std::string prefix, std::string secret = {},
                    const Sha256Factory* sha = nullptr);
    [[nodiscard]] bool hashed() const { return !secret_.empty(); }
    // The ADDRESS part of a key for a normalised address.
    [[nodiscard]] std::string address_part(std::string_view normalised) const;
    // PREFIX s:SCOPE:ADDRESS; scope "" = global.
    [[nodiscard]] std::string entry_key(std::string_view scope, std::string_view normalised) const;
    // PREFIX sb:ADDRESS
    [[nodiscard]] std::string soft_bounce_key(std::string_view normalised) const;
    // PREFIX suppress:changes
    [[nodiscard]] std::string changes_key() const { return prefix_ + "suppress:changes"; }
    // The SCAN pattern of every entry key.
    [[nodiscard]] std::string scan_pattern() const;
    // Splits an entry key into scope ("" = global) and ADDRESS part.
    [[nodiscard]] std::optional<std::pair<std::string, std::string>> parse_key(
        std::string_view key) const;

  private:
    std::string prefix_;
    std::string secret_;
    const Sha256Factory* sha_;
};

std::string encode_entry_value(const SuppressionEntry& e);
// Fills reason, streams, added_at, expires_at, source (address and scope
// come from the key).
Result<SuppressionEntry> decode_entry_value(std::string_view value);

// HMAC-SHA-256 (RFC 2104) over the core's SHA-256 port; lower-case hex.
std::string hmac_sha256_hex(const Sha256Factory& sha, std::string_view key,
                            std::string_view message);

// Keeps printable ASCII without "|", at most 200 bytes: a safe SOURCE.
std::string clean_source(std::string_view source);

}  // namespace staffel::core
