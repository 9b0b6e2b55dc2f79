// schema.hpp - every policy key Staffel knows, with type, default and bounds.
//
// Purpose: one declarative table drives validation (config/loader.cpp),
//   error wording ("what would be accepted") and the documentation check
//   (a unit test asserts policies/README.md documents every key here).
//   Adding a key means adding one row here and one member in core/policy.hpp.
// Thread-safety: the table is built once, on first use, and then read-only.
// Errors: a setter returns the message for a value it refuses; the loader
//   adds file:line:column and the field name.
#pragma once

#include <toml++/toml.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy.hpp"

namespace staffel::config {

struct FieldSpec {
    std::string_view section;       // "milter"
    std::string_view key;           // "socket"
    std::string_view expects;       // what a valid value looks like, for errors
    std::string_view default_text;  // as documented
    // Applies the value to the policy, or returns why it is refused.
    std::function<std::optional<std::string>(const toml::node&, core::Policy&)> set;

    [[nodiscard]] std::string name() const { return std::string(section) + "." + std::string(key); }
};

// The sections a policy may have, in documentation order.
const std::vector<std::string_view>& known_sections();

// All fields of every section.
const std::vector<FieldSpec>& schema();

// Fields of one section; empty if the section is unknown.
std::vector<const FieldSpec*> fields_of(std::string_view section);

}  // namespace staffel::config
