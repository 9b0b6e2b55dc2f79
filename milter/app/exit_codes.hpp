// exit_codes.hpp - the exit statuses of staffeld and staffelctl (sysexits.h).
#pragma once

namespace staffel::app {

inline constexpr int kExitUsage = 64;        // EX_USAGE: bad command line
inline constexpr int kExitDataErr = 65;      // EX_DATAERR: bad input data
inline constexpr int kExitNoInput = 66;      // EX_NOINPUT: a file cannot be read
inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: Redis, DNS, ...
inline constexpr int kExitSoftware = 70;     // EX_SOFTWARE: internal error
inline constexpr int kExitCantCreat = 73;    // EX_CANTCREAT: an output file cannot be made
inline constexpr int kExitIoErr = 74;        // EX_IOERR: writing failed
inline constexpr int kExitTempFail = 75;     // EX_TEMPFAIL: try again later
inline constexpr int kExitConfig = 78;       // EX_CONFIG: the policy is invalid

}  // namespace staffel::app
