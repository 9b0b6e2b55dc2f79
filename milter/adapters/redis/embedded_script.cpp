// embedded_script.cpp - see embedded_script.hpp.
#include "adapters/redis/embedded_script.hpp"

#include <openssl/evp.h>

#include <stdexcept>

#include "redis_scripts.hpp"  // generated from scripts/*.lua by milter/CMakeLists.txt

namespace staffel::adapters {
namespace {

std::string sha1_hex(std::string_view text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha1(), nullptr) != 1) {
        throw std::runtime_error("cannot compute the SHA1 of a Redis script");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * static_cast<std::size_t>(len));
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(kHex[md[i] >> 4]);
        out.push_back(kHex[md[i] & 0x0f]);
    }
    return out;
}

}  // namespace

EmbeddedScript embedded_script(std::string_view name) {
    for (const auto& s : redis_scripts::kEmbeddedLua) {
        if (s.name == name) {
            return {std::string(s.name), std::string(s.source), sha1_hex(s.source)};
        }
    }
    throw std::runtime_error("Redis script " + std::string(name) + " is not compiled in");
}

}  // namespace staffel::adapters
