// policy_text.hpp - policies from TOML text, for unit tests.
//
// Purpose: one way for every unit test to build a core::Policy from a TOML
//   snippet (the test fails on any load error) or to get the first error a
//   snippet must give. `file` is the name error messages carry.
// Thread-safety: none; one test thread.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "config/loader.hpp"

namespace staffel::test {

inline std::shared_ptr<const core::Policy> policy_from(const std::string& toml,
                                                       const std::string& file = "t.toml") {
    auto r = config::load_policy_text(toml, file);
    for (const auto& e : r.errors) {
        FAIL(e.to_string());
    }
    return r.policy;
}

inline std::string load_error(const std::string& toml, const std::string& file = "t.toml") {
    auto r = config::load_policy_text(toml, file);
    REQUIRE_FALSE(r.policy);
    REQUIRE_FALSE(r.errors.empty());
    return r.errors.front().to_string();
}

}  // namespace staffel::test
