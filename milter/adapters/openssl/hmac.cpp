// hmac.cpp - see hmac.hpp.
#include "adapters/openssl/hmac.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <climits>

namespace staffel::adapters {

std::string hmac_sha1(std::string_view key, std::string_view message) {
    if (key.size() > static_cast<std::size_t>(INT_MAX)) {
        return {};
    }
    // OpenSSL gets non-null pointers also for empty inputs.
    static constexpr unsigned char kEmpty = 0;
    const void* key_bytes = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
    const auto* data =
        message.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(message.data());
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (HMAC(EVP_sha1(), key_bytes, static_cast<int>(key.size()), data, message.size(),
             digest.data(), &length) == nullptr) {
        ERR_clear_error();
        return {};
    }
    return {reinterpret_cast<const char*>(digest.data()), length};
}

}  // namespace staffel::adapters
