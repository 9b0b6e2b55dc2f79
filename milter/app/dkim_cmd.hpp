// dkim_cmd.hpp - staffelctl dkim keygen | rotate | check.
//
// Purpose: the work of the three DKIM commands (app/staffelctl.cpp parses
//   the command line and calls these).
//   keygen  a new private key file (0600, never over an existing file) and,
//           on `out`, its DNS TXT record in zone-file syntax.
//   rotate  the next key of a domain the policy signs for: a new selector
//           (the rule is in staffelctl_help.hpp), the key file next to the
//           current key's, its record on `out`, and on `err` the
//           [[dkim.keys]] entry to add, with not_before (default now + 48h)
//           from which it takes over (core/dkim/table.hpp).
//   check   does DNS (or a zone-style file) publish the public half of every
//           [[dkim.keys]] key, as each key's time in force needs?
// Output: results on `out`, notes and errors on `err`. Key material never
//   reaches either, only the public p= value.
// Exit status (sysexits(3)), per command in staffelctl_help.hpp: 0 success;
//   1 check: a key is not published as it should be; 2 check: warnings
//   only; 64 usage; 65 unreadable record file contents; 66 record file
//   missing; 69 no DNS answer for any key; 70 key generation failed; 73
//   the key file cannot be created; 78 the policy is invalid.
// Outside input: the policy (trusted), the record file or DNS answers
//   (bounded to 4 MiB, parsed by core/dkim/dns_record.hpp).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace staffel::app {

struct DkimOptions {
    std::string domain;
    std::string selector;  // rotate: empty picks one
    std::string algorithm = "rsa-sha256";
    bool algorithm_given = false;
    int bits = 2048;
    bool bits_given = false;
    std::string out_dir;     // rotate: empty is the current key's directory
    std::string not_before;  // rotate: RFC 3339 or a duration from now; empty: 48h
    std::string record_file;
    std::string nameserver;
};

inline constexpr int kExitCheckWarning = 2;

int dkim_keygen(const DkimOptions& opt, std::ostream& out, std::ostream& err);
int dkim_rotate(const std::string& config, const DkimOptions& opt, std::int64_t now,
                std::ostream& out, std::ostream& err);
int dkim_check(const std::string& config, const DkimOptions& opt, std::int64_t now,
               std::ostream& out, std::ostream& err);

}  // namespace staffel::app
