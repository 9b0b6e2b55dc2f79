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

// A table nested in a section ("dkim.keys"). An array section is written
// [[dkim.keys]]: each element appends one entry to the policy (begin), its
// fields then set that entry, and `finish` checks the entry as a whole.
struct SubsectionSpec {
    std::string_view name;  // "dkim.keys"
    bool array = false;
    std::vector<std::string_view> required;  // keys every element must set
    // Appends the entry; `where` is its FILE:LINE:COL.
    std::function<void(core::Policy&, const std::string& where)> begin;
    // `dir` is the directory of the file the element is in (for relative
    // paths). Returns why the element is refused.
    std::function<std::optional<std::string>(core::Policy&, const std::string& dir)> finish;
};

// The top-level sections a policy may have, in documentation order.
const std::vector<std::string_view>& known_sections();

// Nested sections; null if `name` is not one.
const SubsectionSpec* subsection(std::string_view name);
const std::vector<SubsectionSpec>& subsections();

// All fields of every section.
const std::vector<FieldSpec>& schema();

// Fields of one section; empty if the section is unknown.
std::vector<const FieldSpec*> fields_of(std::string_view section);

// The rows of the sections declared in files of their own.
void add_sentinel_rows(std::vector<FieldSpec>& rows);     // schema_sentinel.cpp
void add_routing_rows(std::vector<FieldSpec>& rows);      // schema_routing.cpp
void add_suppression_rows(std::vector<FieldSpec>& rows);  // schema_suppress.cpp
void add_stats_rows(std::vector<FieldSpec>& rows);        // schema_stats.cpp

}  // namespace staffel::config
