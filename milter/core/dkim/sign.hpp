// sign.hpp - DKIM signatures (RFC 6376 §5) for one message.
//
// Purpose: the core of signing. MessageSigner streams the body into one
//   canonicaliser and SHA-256 per body canonicalisation (every signature
//   that shares one shares its body hash), then at end of message selects
//   the header fields (h=), hashes them with the DKIM-Signature field that
//   is being made, has the key sign, and returns the finished field values,
//   folded at 78 columns, ready to be inserted on top of the message.
// Cryptography: behind the ports of signer.hpp (Sha256Factory, SigningKey).
// Memory: constant in the body size: canonicalisers never buffer the body.
// Thread-safety: one MessageSigner per message, used by one thread. Keys
//   and the hash factory are shared and thread-safe.
// Errors: sign() returns an Error only when a hash or key operation fails
//   (an environment failure: the caller tempfails the message).
// Outside input: the header fields and body come from the SMTP client;
//   nothing here interprets them beyond canonicalisation.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dkim/canon.hpp"
#include "core/dkim/signer.hpp"
#include "core/headers.hpp"
#include "core/result.hpp"

namespace staffel::core {

// What one signature is made with.
struct SignatureSpec {
    std::string domain;    // d=
    std::string selector;  // s=
    std::shared_ptr<const SigningKey> key;
    CanonPair canon{Canon::Relaxed, Canon::Relaxed};
};

struct SignOptions {
    std::int64_t now = 0;                        // t=, seconds since the epoch
    std::optional<std::chrono::seconds> expire;  // x= = t= + expire
    // Views of the policy's lists (no copy per message); they must outlive sign().
    std::span<const std::string> sign_headers;      // names to sign when present
    std::span<const std::string> oversign_headers;  // names signed once more than present
};

struct SignedField {
    std::string name = "DKIM-Signature";
    // The value as libmilter expects it with SMFIP_HDR_LEADSPC: a leading
    // space, folded with CRLF + TAB (the adapter adapts line ends to the MTA).
    std::string value;
    std::string domain;
    std::string selector;
    DkimAlgorithm algorithm = DkimAlgorithm::RsaSha256;
};

// The h= list (lower-case names, in `sign_headers` order): each name in
// `sign_headers` as often as the message has it, plus once more when it is
// in `oversign_headers` (over-signing: a verifier then finds no instance
// for the extra entry, so any field of that name added later breaks the
// signature). A name listed only in `oversign_headers` counts as signed.
std::vector<std::string> select_signed_headers(const std::vector<HeaderField>& fields,
                                               std::span<const std::string> sign_headers,
                                               std::span<const std::string> oversign_headers);

// The header hash input (RFC 6376 §5.4.2): for each h= entry the next
// instance of that name from the bottom, canonicalised; entries with no
// instance left add nothing.
void append_selected_headers(const std::vector<HeaderField>& fields,
                             const std::vector<std::string>& h, Canon canon, std::string& out);

// Standard base64 (RFC 4648 §4), with padding, no line breaks.
std::string base64(std::string_view bytes);

// Builds a folded DKIM-Signature value from its tags, b= last and given
// empty when `b` is empty. Lines stay within 78 columns, counting the
// "DKIM-Signature:" name on the first line.
std::string fold_signature(const std::vector<std::pair<std::string, std::string>>& tags,
                           std::string_view b);

class MessageSigner {
  public:
    MessageSigner(const Sha256Factory& sha, std::vector<SignatureSpec> specs);

    // Body chunks as they come, split anywhere.
    void body(std::string_view chunk);

    // Ends the body and makes every signature over `fields` (the header as
    // it will leave, without the signatures). Call once.
    Result<std::vector<SignedField>> sign(const std::vector<HeaderField>& fields,
                                          const SignOptions& options);

    [[nodiscard]] const std::vector<SignatureSpec>& specs() const { return specs_; }

  private:
    struct BodyHash {
        explicit BodyHash(Canon c) : canon(c) {}
        BodyCanonicalizer canon;
        std::unique_ptr<Sha256> hash;
        std::string digest_b64;
    };
    BodyHash* body_hash_for(Canon canon);

    const Sha256Factory& sha_;
    std::vector<SignatureSpec> specs_;
    std::vector<BodyHash> bodies_;  // at most one per body canonicalisation
};

}  // namespace staffel::core
