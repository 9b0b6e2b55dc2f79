// suppress_help.hpp - the manual-page help texts of `staffelctl suppress`.
//
// Purpose: what `staffelctl suppress [COMMAND] --help` prints, kept apart
//   from the code (app/suppress_cmd.cpp) that registers the commands with
//   staffelctl's man_page(): per command a SYNOPSIS, a DESCRIPTION and a
//   footer with FILE FORMAT (import, export), EXIT STATUS and EXAMPLES.
//   The CSV format described here is core/suppress/csv.hpp's; the exit
//   statuses are app/suppress_cmd.hpp's. Keep the three in step.
// Thread-safety: constants.
#pragma once

namespace staffel::app::suppress_help {

inline constexpr const char* kGroupSynopsis =
    R"(staffelctl [-c POLICY] suppress add ADDRESS --reason REASON [--scope DOMAIN]
                       [--streams LIST] [--expires DURATION|TIME] [--source TEXT]
staffelctl [-c POLICY] suppress remove ADDRESS [--scope DOMAIN]
staffelctl [-c POLICY] suppress show ADDRESS [--sender-domain DOMAIN]
staffelctl [-c POLICY] suppress list [--reason REASON]
                       [--scope DOMAIN | --global]
staffelctl [-c POLICY] suppress import FILE|-
staffelctl [-c POLICY] suppress export [FILE|-])";

inline constexpr const char* kGroupDescription =
    R"(Manages the suppression list: the addresses staffeld must not send to
(hard bounces, complaints, unsubscribes, manual blocks, invalid addresses).
Entries live in Redis (the [redis] section of the policy given with -c),
shared by every staffeld; the policy's [suppression] table says how
addresses are normalised and whether they are stored hashed.

An entry has an address; a reason: hard_bounce, complaint, unsubscribe,
manual or invalid; a scope: global, or one sender domain (it then applies
only to mail whose envelope sender is in that domain); the streams it
blocks: every stream, or the named ones (an unsubscribe blocks the
policy's unsubscribe_streams unless told otherwise); when and by what it
was added; and an optional expiry. An entry that blocks every stream makes
staffeld refuse the recipient at RCPT (550 5.1.1 for hard_bounce and
invalid, else 550 5.7.1); one that blocks some streams removes the
recipient from mail of those streams at the end of the message.

Addresses are normalised as staffeld normalises recipients: angle
brackets and surrounding spaces removed, the domain lower-cased, the local
part lower-cased unless fold_local_part = false. A domain written in
Unicode is converted to its A-label form (IDNA2008 with the UTS #46
mapping, e.g. xn--bcher-kva.example for bucher.example with a u-umlaut),
stored and shown that way, so both spellings find the same entry; a
domain IDNA2008 refuses is an error. With
hash_secret_file set, Redis holds HMAC-SHA-256 hashes only: every command
still takes plain addresses, list and export show h:HEX (64 hex digits),
and remove, show and import accept that form too.)";

inline constexpr const char* kGroupFooter = R"(EXIT STATUS
  0   done
  1   no such entry (remove, show)
  64  bad command line or argument
  65  import: rows refused, or no header line; list, export, show: stored
      values that do not decode (the others are used)
  66  the import file cannot be read
  69  Redis cannot be reached (the message says why)
  73  the export file cannot be created
  74  writing the export failed
  78  the policy is invalid

EXAMPLES
  staffelctl -c /etc/staffel/staffel.toml suppress add bob@example.org -r complaint
  staffelctl suppress show bob@example.org
  staffelctl suppress list --reason unsubscribe
  staffelctl suppress import bounces.csv
  staffelctl suppress export suppression.csv
)";

inline constexpr const char* kAddDescription =
    R"(Adds the entry of ADDRESS, or replaces the one with the same address and
scope. Without --streams it blocks the reason's default streams: an
unsubscribe blocks [suppression] unsubscribe_streams (default "bulk"),
every other reason every stream. The added time is now; without --expires
the entry never expires, with it Redis drops the entry when the time comes.
--expires takes what the expires column of an import file takes: a
duration from now (30d, 12h, 90m; at least 1s), an RFC 3339 time, epoch
seconds, or 0 for never.
Prints what was stored, e.g.
  added the global entry of bob@example.org: complaint, every stream,
  added 2026-11-20T14:03:00Z, never expires, source staffelctl)";

inline constexpr const char* kAddFooter = R"(EXIT STATUS
  0   stored
  64  bad command line, address, reason, scope, streams or expiry
  69  Redis cannot be reached
  78  the policy is invalid

EXAMPLES
  staffelctl suppress add bob@example.org --reason hard_bounce
  staffelctl suppress add carol@example.net --reason unsubscribe --scope example.com
  staffelctl suppress add dave@example.com --reason manual --streams bulk,news \
      --expires 30d --source "ticket 42"
)";

inline constexpr const char* kRemoveDescription =
    R"(Removes the global entry of ADDRESS or, with --scope, its entry for mail
from DOMAIN. Other entries of the address stay ("suppress show" lists
them).)";

inline constexpr const char* kRemoveFooter = R"(EXIT STATUS
  0   removed
  1   there was no such entry
  64  bad command line or address
  69  Redis cannot be reached
  78  the policy is invalid

EXAMPLES
  staffelctl suppress remove bob@example.org
  staffelctl suppress remove carol@example.net --scope example.com
)";

inline constexpr const char* kShowDescription =
    R"(Prints the entries of ADDRESS and what they do to mail sent to it.
Without --sender-domain: the global entry and every entry scoped to a
sender domain (found by a SCAN of the whole Redis key space, which takes a
moment on a large Redis). With --sender-domain DOMAIN: the global entry and
the one for mail from DOMAIN, the two staffeld reads for such mail.
Then, per sender, what the entries that apply do:
  bob@example.org
    global entry: hard_bounce, every stream, added 2026-11-20T14:03:00Z,
    never expires, source dsn
  applies to
    mail from any sender: refused at RCPT with 550 5.1.1 (hard_bounce,
    global entry)
or "removed at end of message from mail of stream bulk; mail of other
streams is delivered" for entries that block some streams only.)";

inline constexpr const char* kShowFooter = R"(EXIT STATUS
  0   the address has an entry
  1   it has none (none for mail from DOMAIN, with --sender-domain)
  64  bad command line, address or domain
  65  a scoped entry found by the SCAN does not decode (reported on
      standard error; the others are shown)
  69  Redis cannot be reached, or the global entry (or the one for mail
      from DOMAIN) does not decode; the message names the key
  78  the policy is invalid

EXAMPLES
  staffelctl suppress show bob@example.org
  staffelctl suppress show bob@example.org --sender-domain example.com
)";

inline constexpr const char* kListDescription =
    R"(Prints every entry, one line each, in no particular order (a SCAN of the
Redis key space), as tab-separated columns under a header line:
  ADDRESS  SCOPE  REASON  STREAMS  ADDED  EXPIRES  SOURCE
SCOPE is * for a global entry; STREAMS * for every stream, else names
joined by ","; ADDED and EXPIRES are RFC 3339 UTC times, EXPIRES "never"
for an entry that does not expire. With hashing on, ADDRESS is h:HEX and
the first line on standard error says so. A stored value that does not
decode is reported on standard error and skipped.)";

inline constexpr const char* kListFooter = R"(EXIT STATUS
  0   listed
  64  bad command line, reason or domain
  65  some stored values do not decode (the others are listed)
  69  Redis cannot be reached
  78  the policy is invalid

EXAMPLES
  staffelctl suppress list
  staffelctl suppress list --reason hard_bounce --global
  staffelctl suppress list --scope example.com | cut -f1
)";

inline constexpr const char* kCsvFormat = R"(FILE FORMAT
  CSV (RFC 4180) in UTF-8. The first line is exactly
    address,reason,scope,streams,expires,source,added
  as export writes it, or the older form without added (import takes
  both), then one entry per line with the header's fields:
    address  an address, or h: and 64 hex digits: an address hashed with the
             same secret, as export writes it when hashing is on
    reason   hard_bounce, complaint, unsubscribe, manual or invalid
    scope    empty (or *) for a global entry, else the sender domain it is
             limited to
    streams  * for every stream; stream names joined by ";"; empty for the
             reason's default (unsubscribe: [suppression]
             unsubscribe_streams, other reasons: every stream)
    expires  empty (or 0) for never; a duration from the time of the
             import, as --expires of add takes it (30d, 12h); an RFC 3339
             time such as 2027-01-31T00:00:00Z (offsets such as +02:00
             accepted); or epoch seconds
    source   free text saying where the entry came from ("|" and control
             characters dropped, at most 200 bytes kept)
    added    when the entry was added, the "since" of staffeld's 550
             replies: an RFC 3339 time or epoch seconds; empty (or 0) for
             the time of the import
  A field holding a comma, a double quote or a line break is put in double
  quotes, with each double quote inside doubled. Lines end with LF or CRLF;
  empty lines are skipped; a record may be 4096 bytes long at most.
    address,reason,scope,streams,expires,source,added
    bob@example.org,hard_bounce,,,,dsn,2026-11-20T14:03:00Z
    carol@example.net,unsubscribe,example.com,bulk;news,2027-01-31T00:00:00Z,crm,
    dave@example.com,manual,,*,30d,"ticket 42, ""urgent""",

)";

inline constexpr const char* kImportDescription =
    R"(Reads entries from FILE ("-": standard input) in the format below and
stores them, replacing entries with the same address and scope. Rows go to
Redis in pipelined batches of 10000; each row is stored whole or not at
all. A row that does not parse is reported on standard error as
  FILE:LINE: column 2 (reason): unknown reason "bounce"; expected ...
and skipped; the other rows are still imported. A row whose expiry has
passed is refused the same way. A file whose first line is not the header
line is refused whole. An entry's added time is its added column, or the
time of the import when the column is empty or the file has none; an
empty source becomes import:FILE:LINE. A later row for the same address
and scope replaces an earlier one (both count as imported). The last line
on standard output is
  imported N entries, M rows refused)";

inline constexpr const char* kImportFooter = R"(EXIT STATUS
  0   every row was imported
  64  bad command line
  65  some rows were refused (the others were imported), or the first
      line is not the header line (nothing was imported)
  66  FILE cannot be read
  69  Redis cannot be reached (rows of earlier batches stay stored)
  78  the policy is invalid

EXAMPLES
  staffelctl -c /etc/staffel/staffel.toml suppress import unsubscribes.csv
  esp-bounces-to-csv | staffelctl suppress import -
)";

inline constexpr const char* kExportDescription =
    R"(Writes every entry as CSV in the format below, in no particular order (a
SCAN of the Redis key space), to FILE, or to standard output ("-", the
default). FILE is written under a temporary name with mode 0600 and renamed
once complete. An export imports again ("suppress import") with everything,
the added times included. With hashing on the
address column holds h:HEX, and the file imports only into a store with
the same secret; standard error says so first. Standard error ends with
  exported N entries)";

inline constexpr const char* kExportFooter = R"(EXIT STATUS
  0   exported
  64  bad command line
  65  some stored values do not decode (the others were exported)
  69  Redis cannot be reached
  73  FILE cannot be created
  74  writing FILE failed
  78  the policy is invalid

EXAMPLES
  staffelctl suppress export suppression-2026-11-20.csv
  staffelctl -c old.toml suppress export | staffelctl -c new.toml suppress import -
)";

inline constexpr const char* kReasonHelp =
    "hard_bounce, complaint, unsubscribe, manual or\ninvalid";

}  // namespace staffel::app::suppress_help
