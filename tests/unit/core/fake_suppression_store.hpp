// fake_suppression_store.hpp - an in-memory SuppressionStore for unit tests.
//
// Purpose: entries in a map under their full keys, as core/suppress/store.hpp
//   describes them; counts lookups (round trips) and writes, and can be
//   made to fail like an unreachable Redis. Soft bounces, bulk writes and
//   scans are not modelled (they answer an error).
// Thread-safety: none; one test thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/suppress/store.hpp"

namespace staffel::test {

struct FakeSuppressionStore : core::SuppressionStore {
    std::map<std::string, core::SuppressionEntry> entries;
    int lookups = 0;
    int writes = 0;
    bool down = false;  // every lookup answers an error

    core::Result<std::vector<std::optional<core::SuppressionEntry>>> lookup(
        std::span<const std::string> keys) override {
        ++lookups;
        if (down) {
            return core::make_error("connection refused");
        }
        std::vector<std::optional<core::SuppressionEntry>> out;
        for (const auto& k : keys) {
            auto it = entries.find(k);
            out.push_back(it == entries.end() ? std::nullopt
                                              : std::optional<core::SuppressionEntry>(it->second));
        }
        return out;
    }
    core::Result<bool> put(const std::string& key, const core::SuppressionEntry& e) override {
        ++writes;
        entries[key] = e;
        return true;
    }
    core::Result<bool> remove(const std::string& key) override {
        ++writes;
        return entries.erase(key) > 0;
    }
    core::Result<core::SoftBounceOutcome> count_soft_bounce(
        const std::string&, std::int64_t, std::int64_t, const std::string&,
        const core::SuppressionEntry&) override {
        ++writes;
        return core::make_error("not modelled");
    }
    core::Result<std::size_t> put_many(std::span<const core::KeyedEntry>) override {
        ++writes;
        return core::make_error("not modelled");
    }
    core::Result<std::size_t> scan(std::string_view, const Visitor&) override {
        return core::make_error("not modelled");
    }
};

// An entry as `staffelctl suppress add` would store it, for the tests to
// place in the store.
inline core::SuppressionEntry entry(core::SuppressReason reason,
                                    std::vector<std::string> streams = {}, std::string scope = {}) {
    core::SuppressionEntry e;
    e.reason = reason;
    e.streams = std::move(streams);
    e.scope = std::move(scope);
    e.added_at = 1763640000;  // 2025-11-20 12:00 UTC
    e.source = "test";
    return e;
}

}  // namespace staffel::test
