// loader.hpp - TOML policy file -> validated, immutable core::Policy.
//
// Purpose: reads the main policy file and the files it includes
//   (top-level `include = ["other.toml", ...]`, resolved against the
//   including file's directory), checks every key against config/schema,
//   and builds one Policy snapshot. Used at start-up, by `-n`, and on SIGHUP.
// Errors: never a partial policy. Every problem found is returned as a
//   LoadError naming file:line:column, the field and what would be
//   accepted; unknown keys and sections are errors (a typo must not silently
//   disable a setting); a key set twice (in one file or across includes) is
//   an error naming both places. Errors are sorted by file (the main file
//   first, then includes in the order read), line and column.
// Thread-safety: reentrant; no shared state.
// Outside input: the policy files (trusted, typo-prone); at most 4 MiB each
//   and 8 levels of includes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/policy.hpp"

namespace staffel::config {

struct LoadError {
    std::string file;
    std::uint32_t line = 0;  // 0: the error concerns the whole file
    std::uint32_t column = 0;
    std::string field;  // "milter.socket"; empty for file and syntax errors
    std::string message;

    // "FILE:LINE:COLUMN: error: FIELD: MESSAGE", or "FILE: error: MESSAGE".
    [[nodiscard]] std::string to_string() const;
};

struct LoadResult {
    std::shared_ptr<const core::Policy> policy;  // null when errors is not empty
    std::vector<LoadError> errors;   // in file order (main file, then includes), then by line
    std::vector<std::string> files;  // the main file and every include, in order
    // Where each key's value was written, by field: "milter.user", or for
    // an element of an array section "dkim.keys#0.key" (0-based, in policy
    // order). The message is empty.
    std::map<std::string, LoadError> set_at;

    // An error at the value of `field` (a key of set_at), for checks made
    // after loading (staffeld -n looks up milter.user); at the main file,
    // without a line, when the policy does not set the field.
    [[nodiscard]] LoadError error_at(const std::string& field, std::string message) const;
};

// Reads and checks one private key file ([[dkim.keys]] key): staffeld and
// staffelctl pass the OpenSSL adapter's load_signing_key.
using KeyLoader = std::function<core::Result<std::shared_ptr<const core::SigningKey>>(
    const std::string& path, core::DkimAlgorithm declared)>;

// Loads the policy; with a key loader also every DKIM key it declares (an
// unreadable or unfit key is an error at its [[dkim.keys]] entry). Without
// one, keys stay unloaded (DkimKeySpec::key is null). A key's error is
// located at its `key =` value.
LoadResult load_policy(const std::string& path, const KeyLoader& load_key = {});

// Loads from text instead of a file (unit tests); `name` stands in for the
// path in locations; includes are resolved against the current directory.
LoadResult load_policy_text(const std::string& text, const std::string& name);

}  // namespace staffel::config
