// digest.hpp - the SHA-256 port: running hashes the core computes without
// a crypto library.
//
// Purpose: DKIM hashes bodies and headers (core/dkim/), suppression hashes
//   addresses at rest (core/suppress/); both take a Sha256Factory, so the
//   core includes no OpenSSL and tests can plug in fakes. The OpenSSL
//   adapter (adapters/openssl/dkim_keys.hpp) implements it.
// Thread-safety: a Sha256 is one running hash owned by one thread; the
//   factory may be shared.
// Errors: Result values, never exceptions (STYLE.md §5); an implementation
//   remembers a failure and reports it on finish().
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "core/result.hpp"

namespace staffel::core {

using Sha256Digest = std::array<std::uint8_t, 32>;

// One running SHA-256 computation (the body hash, or the header hash).
class Sha256 {
  public:
    virtual ~Sha256() = default;

    // Adds data. A failure inside the implementation is remembered and
    // reported by the next finish(), so hot loops need not check each call.
    virtual void update(std::string_view data) = 0;

    // The digest of everything given since construction or the previous
    // finish(); the object then starts afresh and can be reused.
    virtual Result<Sha256Digest> finish() = 0;
};

class Sha256Factory {
  public:
    virtual ~Sha256Factory() = default;
    // Never null; an object that could not be set up reports it on finish().
    [[nodiscard]] virtual std::unique_ptr<Sha256> make() const = 0;
};

}  // namespace staffel::core
