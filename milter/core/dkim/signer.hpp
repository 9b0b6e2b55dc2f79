// signer.hpp - the ports DKIM signing needs: a private key, and SHA-256
// (core/digest.hpp).
//
// Purpose: the core canonicalises headers and body, assembles the
//   DKIM-Signature field and base64s the results; the cryptography stays
//   behind these interfaces so the core includes no OpenSSL and tests can
//   plug in fakes. The OpenSSL adapter (adapters/openssl/dkim_keys.hpp)
//   implements them.
// Algorithms: rsa-sha256 (RFC 6376 §3.3.1) is RSASSA-PKCS1-v1_5 over the
//   SHA-256 of the data; ed25519-sha256 (RFC 8463 §3) is PureEd25519 over
//   the 32-byte SHA-256 of the data. Either way SigningKey::sign() takes the
//   canonicalised header data itself and hashes it; the caller never
//   pre-hashes.
// Thread-safety: a SigningKey is immutable once loaded and sign() may be
//   called from many threads at once on the same key.
// Errors: Result values, never exceptions (STYLE.md §5). A failure to sign
//   is an environment error (out of memory, a broken crypto provider): the
//   caller tempfails the message.
// Secrets: no implementation ever puts key material into an error message.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/digest.hpp"
#include "core/result.hpp"

namespace staffel::core {

enum class DkimAlgorithm { RsaSha256, Ed25519Sha256 };

// The a= spelling: "rsa-sha256" or "ed25519-sha256".
std::string_view to_string(DkimAlgorithm algorithm);

// Parses the a= spelling exactly (tag values are case-sensitive, RFC 6376
// §3.2). rsa-sha1 is refused on purpose (RFC 8301).
Result<DkimAlgorithm> parse_dkim_algorithm(std::string_view text);

inline constexpr std::string_view kDkimAlgorithmHint = "\"rsa-sha256\" or \"ed25519-sha256\"";

// A loaded private key. Obtain one from the adapter (load_signing_key);
// share it as shared_ptr<const SigningKey> across messages and threads.
class SigningKey {
  public:
    virtual ~SigningKey() = default;

    [[nodiscard]] virtual DkimAlgorithm algorithm() const = 0;

    // Signs the canonicalised header data (RFC 6376 §3.7: the selected
    // header fields, then the DKIM-Signature field with an empty b= and no
    // trailing CRLF). Returns the raw signature bytes, to be base64ed into
    // b=: as long as the RSA modulus for rsa-sha256, 64 bytes for
    // ed25519-sha256.
    [[nodiscard]] virtual Result<std::string> sign(std::string_view data_to_sign) const = 0;
};

inline std::string_view to_string(DkimAlgorithm algorithm) {
    switch (algorithm) {
        case DkimAlgorithm::RsaSha256:
            return "rsa-sha256";
        case DkimAlgorithm::Ed25519Sha256:
            return "ed25519-sha256";
    }
    return "rsa-sha256";
}

inline Result<DkimAlgorithm> parse_dkim_algorithm(std::string_view text) {
    if (text == "rsa-sha256") {
        return DkimAlgorithm::RsaSha256;
    }
    if (text == "ed25519-sha256") {
        return DkimAlgorithm::Ed25519Sha256;
    }
    return make_error("unknown DKIM algorithm \"" + std::string(text) + "\": expected " +
                      std::string(kDkimAlgorithmHint));
}

}  // namespace staffel::core
