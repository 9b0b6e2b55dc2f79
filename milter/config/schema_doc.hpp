// schema_doc.hpp - the policy reference, written from the schema table.
//
// Purpose: policies/README.md's key tables and the staffel.toml(5) man page
//   are generated from config/schema.hpp (key, what a value looks like, the
//   default) and the meaning of each key kept next to it
//   (config/schema_meanings.cpp), so the reference cannot drift from what
//   the loader accepts: a unit test compares policies/README.md with
//   readme_with_tables(), and the build writes staffel.toml.5 with
//   man_page() (the tool build/staffel_policy_doc).
// Generated blocks in policies/README.md sit between
//   <!-- BEGIN keys SECTION (generated from the schema) -->
//   <!-- END keys SECTION -->
//   lines; everything else there is prose, written by hand.
// Thread-safety: pure functions over the schema.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace staffel::config {

// The meaning of a key ("milter.socket"), as documented; "" if none.
std::string_view field_meaning(std::string_view name);
// Names that have a meaning but no row in the schema (a test keeps it
// empty).
std::vector<std::string> meanings_without_field();

// The sections that have keys, in schema order ("milter", "dkim.keys", ...).
std::vector<std::string> documented_sections();

// The Markdown table of one section's keys.
std::string markdown_table(std::string_view section);

// `readme` with every generated block replaced by the current table; the
// blocks are found by their BEGIN/END lines.
std::string readme_with_tables(std::string_view readme);

// staffel.toml(5) in roff (man macros).
std::string man_page(std::string_view version, std::string_view date);

}  // namespace staffel::config
