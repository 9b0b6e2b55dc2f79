// bloom.cpp - see bloom.hpp.
#include "core/suppress/bloom.hpp"

#include <bit>

namespace staffel::core {
namespace {

std::size_t bits_for(std::size_t capacity) {
    std::size_t want = capacity * BloomFilter::kBitsPerKey;
    if (want < BloomFilter::kMinBits) {
        want = BloomFilter::kMinBits;
    }
    return std::bit_ceil(want);
}

// The i-th probe of a hash (Kirsch and Mitzenmacher: h1 + i * h2, h2 odd so
// that the probes of one key never all coincide).
std::size_t probe(std::uint64_t h, std::size_t i, std::size_t mask) {
    const std::uint64_t h1 = h;
    const std::uint64_t h2 = (h >> 32 | h << 32) | 1;
    return static_cast<std::size_t>(h1 + i * h2) & mask;
}

}  // namespace

BloomFilter::BloomFilter(std::size_t capacity)
    : capacity_(capacity), mask_(bits_for(capacity) - 1) {
    const std::size_t words = (mask_ + 1) / 64;
    words_ = std::make_unique<std::atomic<std::uint64_t>[]>(words);
    for (std::size_t i = 0; i < words; ++i) {
        words_[i].store(0, std::memory_order_relaxed);
    }
}

std::uint64_t BloomFilter::hash(std::string_view key) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : key) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    // splitmix64's finaliser
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

void BloomFilter::add_hash(std::uint64_t h) noexcept {
    for (std::size_t i = 0; i < kProbes; ++i) {
        const std::size_t bit = probe(h, i, mask_);
        words_[bit / 64].fetch_or(std::uint64_t{1} << (bit % 64), std::memory_order_relaxed);
    }
    added_.fetch_add(1, std::memory_order_relaxed);
}

bool BloomFilter::may_contain_hash(std::uint64_t h) const noexcept {
    for (std::size_t i = 0; i < kProbes; ++i) {
        const std::size_t bit = probe(h, i, mask_);
        if ((words_[bit / 64].load(std::memory_order_relaxed) & (std::uint64_t{1} << (bit % 64))) ==
            0) {
            return false;
        }
    }
    return true;
}

}  // namespace staffel::core
