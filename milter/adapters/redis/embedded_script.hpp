// embedded_script.hpp - the Lua scripts compiled into the binary, with the
// SHA1 that EVALSHA names them by.
//
// Purpose: every Redis store calls its scripts by EVALSHA and falls back to
//   EVAL with the source on NOSCRIPT; both need the source and its SHA1.
//   The sources come from adapters/redis/scripts/*.lua through the header
//   milter/CMakeLists.txt generates.
// Thread-safety: a plain value; embedded_script() keeps no state.
// Errors: std::runtime_error if the script is not compiled in or cannot be
//   hashed (a build defect, raised while a store is constructed).
#pragma once

#include <string>
#include <string_view>

namespace staffel::adapters {

struct EmbeddedScript {
    std::string name;    // file name, e.g. "quota_charge.lua"
    std::string source;  // the file's bytes (quota_lib.lua included)
    std::string sha1;    // lower-case hex
};

EmbeddedScript embedded_script(std::string_view name);

}  // namespace staffel::adapters
