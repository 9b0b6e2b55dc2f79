// bloom.hpp - a Bloom filter of suppression keys: the local view's memory.
//
// Purpose: most recipients are on no suppression list, so a node that keeps
//   every entry key of the store in a Bloom filter (adapters/redis/
//   suppression_view) can say "not listed" for them without asking Redis.
//   A filter never forgets a key it was given (no false negatives); it may
//   claim a key it was never given (a false positive), which the caller
//   then confirms in the store. Removed entries stay in the filter until
//   it is rebuilt: they cost a confirmation, never a wrong answer.
// Sizing: built for `capacity` keys at about 10 bits per key and 7 probes
//   (double hashing of one 64-bit hash), which keeps false positives near
//   1% at capacity; the bit count is a power of two, at least 2^16. Past
//   capacity the rate grows (about 5% at twice as many keys): over_capacity()
//   tells the owner to build a bigger one.
// Thread-safety: add() and may_contain() may run on any threads at once
//   (the bits are atomic words; relaxed order). An add() that returned
//   happens-before a may_contain() that synchronised with it (the owner
//   publishes with a release store and reads with an acquire load).
// Errors: none; construction throws std::bad_alloc like any allocation.
// Outside input: keys built from SMTP recipients; only hashed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace staffel::core {

class BloomFilter {
  public:
    static constexpr std::size_t kProbes = 7;
    static constexpr std::size_t kBitsPerKey = 10;
    static constexpr std::size_t kMinBits = std::size_t{1} << 16;

    explicit BloomFilter(std::size_t capacity);
    BloomFilter(const BloomFilter&) = delete;
    BloomFilter& operator=(const BloomFilter&) = delete;

    void add(std::string_view key) noexcept { add_hash(hash(key)); }
    // false: the key was never added. true: it probably was.
    [[nodiscard]] bool may_contain(std::string_view key) const noexcept {
        return may_contain_hash(hash(key));
    }
    // The same with the key's hash(), for callers that hash once (a rebuild
    // collects the hashes before it knows how big a filter to make).
    void add_hash(std::uint64_t h) noexcept;
    [[nodiscard]] bool may_contain_hash(std::uint64_t h) const noexcept;

    [[nodiscard]] std::size_t capacity() const { return capacity_; }
    [[nodiscard]] std::size_t bits() const { return mask_ + 1; }
    [[nodiscard]] std::size_t bytes() const { return (mask_ + 1) / 8; }
    // Keys added so far (each add() counts, a repeated key too).
    [[nodiscard]] std::size_t added() const { return added_.load(std::memory_order_relaxed); }
    [[nodiscard]] bool over_capacity() const { return added() > capacity_; }

    // The 64-bit hash the probes derive from (FNV-1a, then a 64-bit
    // finaliser so that every bit depends on every byte).
    static std::uint64_t hash(std::string_view key) noexcept;

  private:
    std::size_t capacity_;
    std::size_t mask_;  // bits - 1; bits is a power of two
    std::unique_ptr<std::atomic<std::uint64_t>[]> words_;
    std::atomic<std::size_t> added_{0};
};

}  // namespace staffel::core
