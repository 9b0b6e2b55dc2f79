// dkim_keys.hpp - DKIM private keys and SHA-256 on OpenSSL 3.
//
// Purpose: implements the core's signing ports (core/dkim/signer.hpp).
//   staffeld loads every key of the policy once, at start-up and on reload,
//   before it drops privileges; staffelctl generates keys and prints the
//   DNS p= value.
// Key files: PEM, unencrypted; RSA as PKCS#1 ("BEGIN RSA PRIVATE KEY") or
//   PKCS#8 ("BEGIN PRIVATE KEY"), Ed25519 as PKCS#8. A file is refused,
//   with a message naming it, when it is missing or unreadable, not a
//   regular file, larger than 64 KiB, accessible to group or others
//   (mode & 077, like OpenDKIM's RequireSafeKeys), encrypted, not a private
//   key, of another algorithm than the policy declares, or an RSA key
//   outside 1024..4096 bits. Each loaded key signs and verifies a test
//   string once before it is accepted.
// Thread-safety: a loaded key is immutable. Its EVP_PKEY is only read after
//   loading: every sign() builds its own EVP_MD_CTX (and with it its own
//   EVP_PKEY_CTX), which OpenSSL 3 supports on one shared EVP_PKEY from
//   many threads (openssl-threads(7)). The test signature at load also
//   settles OpenSSL's lazily filled per-key caches before any sharing.
//   The SHA-256 factory is shared; each Sha256 it makes belongs to one
//   thread.
// Errors: Result values, never exceptions (std::bad_alloc aside).
// Secrets: key bytes never reach a message or a log line; file buffers that
//   held a key are cleansed before they are freed.
// Outside input: the key files (admin-provided, trusted to be intended but
//   not to be well-formed).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/dkim/signer.hpp"
#include "core/result.hpp"

namespace staffel::adapters {

// Reads and checks a private key file; see the file comment for what is
// refused. The result may be shared by all threads.
core::Result<std::shared_ptr<const core::SigningKey>> load_signing_key(
    const std::string& path, core::DkimAlgorithm declared);

// The p= value of the key's DNS record: for rsa-sha256 the base64 of the
// DER SubjectPublicKeyInfo (RFC 6376 §3.6.1), for ed25519-sha256 the base64
// of the raw 32-byte public key (RFC 8463 §4). Empty when the key was not
// made by this adapter (a test fake).
std::string public_key_dns_base64(const core::SigningKey& key);

// A new key: RSA of `bits` bits (1024..4096), or Ed25519 (`bits` ignored).
// For `staffelctl dkim keygen`; slow for big RSA keys, never on the mail
// path.
core::Result<std::shared_ptr<const core::SigningKey>> generate_key(core::DkimAlgorithm algorithm,
                                                                   int bits);

// Writes the key as unencrypted PKCS#8 PEM to a new file with mode 0600.
// Never replaces an existing file (O_CREAT|O_EXCL, no symlink followed); a
// partly written file is removed. Returns true.
core::Result<bool> write_private_key_file(const core::SigningKey& key, const std::string& path);

// SHA-256 on a prefetched EVP_MD; one shared factory for the process.
const core::Sha256Factory& sha256_factory();

}  // namespace staffel::adapters
