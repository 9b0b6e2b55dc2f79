// hmac.hpp - HMAC-SHA1 on OpenSSL 3, for the core's SRS port.
//
// Purpose: implements core::HmacSha1 (core/route/srs.hpp), so the SRS core
//   stays free of crypto libraries. SHA-1 is what the SRS format (libsrs2,
//   postsrsd) fixes; HMAC-SHA1 is not affected by SHA-1's collision attacks.
// Thread-safety: may be called from any number of threads at once; each
//   call uses its own OpenSSL context.
// Errors: returns an empty string if OpenSSL fails (the core reports that
//   as an HMAC failure); the OpenSSL error queue is cleared then.
// Secrets: the key is passed to OpenSSL only; it never reaches a message.
// Outside input: the message (address parts from SMTP); any bytes, any
//   length.
#pragma once

#include <string>
#include <string_view>

namespace staffel::adapters {

// The raw 20-byte HMAC-SHA1 of message under key (any length, also empty
// or over the 64-byte block size, which RFC 2104 hashes first).
std::string hmac_sha1(std::string_view key, std::string_view message);

}  // namespace staffel::adapters
