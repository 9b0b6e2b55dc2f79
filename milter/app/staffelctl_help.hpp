// staffelctl_help.hpp - the manual-page help texts of staffelctl's
// dkim, quota, ingest, route and srs commands.
//
// Purpose: what `staffelctl COMMAND --help` prints, kept apart from the
//   code (app/staffelctl.cpp) that registers the commands with man_page():
//   per command a DESCRIPTION and a footer with EXIT STATUS and EXAMPLES.
//   The exit statuses are those of the commands' own files
//   (app/quota_cmd.hpp, app/ingest_cmd.hpp, app/route_cmd.hpp); keep them
//   in step. `suppress` has app/suppress_help.hpp, `explain` its own file.
// Thread-safety: constants.
#pragma once

namespace staffel::app::staffelctl_help {

inline constexpr const char* kQuotaDescription =
    R"(Shows or clears the counters behind the policy's [[quota]] limits for one
KEY, in Redis (the [redis] section of the policy given with -c), as every
staffeld sharing that Redis sees them.

KEY is what a limit is keyed on, and only limits keyed on what KEY can be
are listed: a sender address (limits with key = "sender", and "sasl_user"
for logins that look like addresses); a domain, a name with a dot
("sender_domain"); a stream the policy knows, a [[stream]] name or
routing.default_stream, or without [[stream]] rules bulk and transactional
("stream"); a client IP address ("client_ip"); any other name is a SASL
login ("sasl_user"). A limit narrowed with domains, sasl_users, networks or
streams is listed only when KEY can match it; a sasl_user limit whose
sasl_users names a login that looks like a domain lists it too.

"quota show" prints one line per limit: its name, what it is keyed on, the
units used in the current window, the limit (after any warm-up ramp; for a
rolling rate, its burst), and when the window resets (calendar quotas:
local midnight, Monday or the first of the month in [general] time_zone;
rolling rates: when everything used has drained).

"quota reset" deletes the counters of the current windows: the key may send
its full limit again at once.)";

inline constexpr const char* kQuotaFooter = R"(EXIT STATUS
  0   done
  1   no [[quota]] limit of the policy applies to KEY
  64  bad command line
  69  Redis cannot be reached (the message says why)
  78  the policy is invalid

EXAMPLES
  staffelctl -c /etc/staffel/staffel.toml quota show alice@example.com
  staffelctl quota show example.com
  staffelctl quota reset 192.0.2.7
)";

inline constexpr const char* kIngestDescription =
    R"txt(Reads one message, a bounce or a complaint report, and records what it
reports as suppression entries in Redis (the [redis] and [suppression]
sections of the policy given with -c). It is meant to run as a Postfix
pipe(8) transport for the bounce address: contrib/postfix/ has the lines.

  RFC 3464 delivery status notification (multipart/report;
  report-type=delivery-status), as Postfix, Exim, Exchange and Gmail send:
    Action: failed or delayed      -> judged by its Status with
                                     [suppression] dsn_status; by default:
      5.x.x (5.1.1 no such user)  -> hard_bounce entry (global, every stream)
      4.x.x, 5.2.2 mailbox full,
      or Action: delayed          -> one soft bounce counted (unless the
                                     address is already suppressed);
                                     [suppression] soft_bounce_limit of them
                                     within soft_bounce_window make a
                                     hard_bounce entry lasting
                                     soft_bounce_expires
      5.7.x (policy, reputation),
      5.2.3, 5.3.4, 5.6.x         -> reported, nothing recorded
    delivered, relayed, expanded  -> reported, nothing recorded
  RFC 5965 ARF feedback report (report-type=feedback-report), any
  Feedback-Type but not-spam      -> complaint entry for each recipient of
                                     the reported mail (Original-Rcpt-To, else
                                     the To: of the enclosed message)

--recipient gives the envelope recipient the report was delivered to. If it
is a VERP address, LOCAL+USER=DOMAIN@BOUNCE-DOMAIN, USER@DOMAIN is the
address the bounced mail was sent to: it is recorded when the report
concerns one recipient (whatever forwarding made of it) or names none.

The MIME structure is parsed with GMime. A message that is not such a
report, or a report with missing or malformed fields, is refused with the
reason; nothing is guessed. Bounces come from anyone, so a message over
[suppression] ingest_max_size (10 MiB) is refused before parsing, one with
more structure than a report needs (over 50,000 header fields, parameters
and addresses, or 5,000 MIME delimiter lines) before GMime sees it, and the
process caps its own memory at [suppression] ingest_memory_limit (512 MiB)
and its CPU time at 60 s.

Output: one line per recipient on standard output ("suppressed ADDRESS
REASON (status 5.1.1)", "soft bounce N of LIMIT for ADDRESS", "ignored
ADDRESS (action delivered)"); errors on standard error.)txt";

inline constexpr const char* kIngestFooter = R"(EXIT STATUS (as pipe(8) understands them)
  0   done (also when the report needed no entry)
  64  bad command line
  65  not a report Staffel can read, a message over [suppression]
      ingest_max_size (refused before parsing), or a recipient that is no
      address; the message says why (pipe(8) returns the report to the
      postmaster)
  66  FILE cannot be read
  75  Redis cannot be reached, or parsing ran out of memory
      ([suppression] ingest_memory_limit), out of CPU time (60 s) or
      crashed: try again later (Postfix keeps the report and retries, so
      nothing is lost). Never a signal.
  78  the policy is invalid

EXAMPLES
  staffelctl -c /etc/staffel/staffel.toml ingest < bounce.eml
  staffelctl ingest --dry-run report.eml
  # master.cf:
  staffel-ingest unix - n n - 4 pipe
    flags=q user=staffel argv=/usr/sbin/staffelctl -c /etc/staffel/staffel.toml
    ingest --recipient ${recipient}
)";

inline constexpr const char* kRouteDescription =
    R"(Switches a [[route]] of the policy off ("down") and on again ("up") for every
staffeld that shares the policy's Redis, or lists the routes and their state.
The state lives in the Redis set PREFIX routes:down; each staffeld reads it
every 250 ms, so within a second new mail for a route that is down takes the
route's fallback (route.fallback, and its fallback in turn). Mail for a route
that is down with no fallback in service is answered 451 4.3.2 and retried by
the client. Messages already queued in the MTA are not moved.)";

inline constexpr const char* kRouteFooter = R"(EXIT STATUS
  0   done
  1   NAME is not a [[route]] of the policy
  64  bad command line
  69  Redis cannot be reached (the message says why)
  78  the policy is invalid

EXAMPLES
  staffelctl -c /etc/staffel/staffel.toml route down inhouse
  staffelctl route up inhouse
  staffelctl route list
)";

inline constexpr const char* kDkimDescription =
    R"(Creates DKIM key pairs with their DNS records, rotates a domain's key to a
new selector at a set time, and checks that DNS publishes the public half of
each key the policy signs with ([[dkim.keys]]) when it needs to be.)";

inline constexpr const char* kDkimFooter = R"(EXAMPLES
  staffelctl dkim keygen --domain example.com --selector s2026 --out /etc/staffel/keys
  staffelctl dkim rotate --domain example.com
  staffelctl dkim check
)";

inline constexpr const char* kKeygenDescription =
    R"(Generates a private key for d=DOMAIN, s=SELECTOR and writes it, unencrypted
PKCS#8 PEM with mode 0600, to DIR/DOMAIN.SELECTOR.pem. An existing file is
never replaced: pick a new selector for a new key, so the old key keeps
verifying the mail already sent while both records are published.

Standard output gets the public key's TXT record, ready to paste into the
zone of DOMAIN:
  SELECTOR._domainkey.DOMAIN. IN TXT ( "v=DKIM1; k=rsa; "
      "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA..." )
Long keys are split into quoted strings of at most 255 bytes, as DNS
requires; resolvers give them back concatenated. Standard error says where
the key was written and gives the [[dkim.keys]] entry to add to the policy.

DOMAIN and SELECTOR are host names: letters, digits and '-' in labels of
1..63 bytes (IDNs in A-label form, xn--...); a selector may also hold '_'.
The policy (-c) is not read.)";

inline constexpr const char* kKeygenFooter = R"(EXIT STATUS
  0   the key was written and its record printed
  64  bad command line (domain, selector, algorithm, bits)
  70  the key could not be generated
  73  the key file could not be created (it exists, or DIR is not writable)

EXAMPLES
  staffelctl dkim keygen -d example.com -s s2026 -o /etc/staffel/keys
  staffelctl dkim keygen -d example.com -s e2026 -a ed25519-sha256 -o /etc/staffel/keys
  staffelctl dkim keygen -d example.com -s s2026 -b 3072 -o . > s2026.zone
)";

inline constexpr const char* kRotateDescription =
    R"(Starts the rotation of a domain's DKIM key: writes the next key, prints its
record, and says how the policy takes it over at a set time, so that the new
key can be published before it signs and the old key keeps signing until
then. The policy (-c) is read, not changed; key files are not read.

The current key is the [[dkim.keys]] entry of DOMAIN (with ALGORITHM, which
is needed when the domain has both an rsa-sha256 and an ed25519-sha256 key)
that signs now, or else the one with the latest not_before. The new key
    - is named by --selector, or else: the current selector's leading
      letters ("s" when it starts with a digit), the year and month of
      TIME, and then "b", "c", ... while that name is declared for DOMAIN
      or its key file exists: s2026 -> s202607, then s202607b;
    - takes over at TIME (--not-before: an RFC 3339 time such as
      2026-07-01T00:00:00Z, or a duration from now such as "72h" or "7d";
      default 48 hours from now, rounded up to the hour, so the record can
      reach resolvers first). TIME must be in the future and later than
      the current key's not_before;
    - is written, unencrypted PKCS#8 PEM with mode 0600, to
      DIR/DOMAIN.SELECTOR.pem, DIR being --out or else the directory of
      the current key's file. An existing file is never replaced.

Standard output gets the new key's TXT record in zone-file syntax, as
"dkim keygen" prints it. Standard error gives the [[dkim.keys]] entry to
add, with not_before = TIME, and what happens to the current key: with
[dkim] overlap = "newest" (the default) it stops signing at TIME by itself,
without a reload; with overlap = "all" both sign until the current key's
not_after. Publish the record, add the entry, reload staffeld, and run
"dkim check" (it warns until the record is published). Keep the old
record published for a few days after TIME for mail in flight, then remove
the old entry.)";

inline constexpr const char* kRotateFooter = R"(EXIT STATUS
  0   the key was written and its record and entry printed
  64  bad command line, or DOMAIN has no key (of ALGORITHM) to rotate, or the
      selector is already declared, or TIME is not after now and after the
      current key's not_before
  70  the key could not be generated
  73  the key file could not be created (it exists, or DIR is not writable)
  78  the policy is invalid

EXAMPLES
  staffelctl -c /etc/staffel/staffel.toml dkim rotate -d example.com > next.zone
  staffelctl dkim rotate -d example.com -a ed25519-sha256 --not-before 2026-07-01T00:00:00Z
  staffelctl dkim rotate -d example.com -s s2026b -t 7d -o /etc/staffel/keys
)";

inline constexpr const char* kCheckDescription =
    R"(Loads the policy given with -c/--config POLICY (default
/etc/staffel/staffel.toml; before or after "dkim check") with every key it
declares, as staffeld would. Then, for each [[dkim.keys]] entry, looks up
the TXT record at SELECTOR._domainkey.DOMAIN and says whether it publishes
that key's public half: its p= must be the key's (spaces inside p= do not
matter), its k= the key's type (rsa when absent), and h= and s=, when
present, must allow sha256 and email. Other tags are ignored.

The records come from DNS (the resolvers of /etc/resolv.conf, or the server
given with --nameserver), or, with --record, from a file in zone-file syntax
such as "dkim keygen" prints: NAME [TTL] [IN] TXT "string" ..., strings in
parentheses may span lines, ';' starts a comment, $ORIGIN and $TTL are
understood, records of other types are skipped. The file may hold many
records.

Keys load as staffeld loads them, except that a key file that does not
exist is reported on the key's line instead of failing the whole policy.
The keys' times (not_before, not_after) are taken at the time of the run:
  - a key that signs now, or would but for a newer key, must be published
    with its key file present (else the line says why, exit 1);
  - a key due to start signing later (not_before in the future) that is not
    published yet is a WARNING (exit 2), with the time left to publish it;
  - a retired key (not_after past) passes whatever DNS says;
  - a published key whose key file is missing is a WARNING (exit 2):
    staffeld refuses the policy until the file is back or the entry goes.
A key with times, or one that does not sign now, gets its state after "; ".

One line per key:
  example.com s2026 rsa-sha256: match
  example.com s2026 rsa-sha256: MISMATCH: the published p= is another key
  example.com s2026 rsa-sha256: no record found (NXDOMAIN)
  example.com s2026 rsa-sha256: revoked (empty p=)
  example.com s2026 rsa-sha256: record invalid: no p= tag
  example.com s2026 rsa-sha256: lookup failed: no answer from the nameserver ...
  example.com s202607 rsa-sha256: WARNING: no record found (NXDOMAIN); starts
      signing at 2026-07-01T00:00:00Z (in 1d 23h): publish it now
  example.com s2026 rsa-sha256: match; retired since 2026-07-08T00:00:00Z
When several TXT records share the name, one that matches is enough.)";

inline constexpr const char* kCheckFooter = R"(EXIT STATUS
  0   every key is published as it should be (or the policy declares none)
  1   some key is not: mismatch, revoked, invalid, missing, or its lookup failed
  2   warnings only: a key due to start signing is not published yet, or a
      published key has no key file
  64  bad command line
  65  the record file is not valid zone-file text (the error names the line)
  66  the record file cannot be read
  69  DNS gave no answer for any key (no key could be checked)
  78  the policy is invalid, or a key file that exists cannot be loaded

EXAMPLES
  staffelctl -c /etc/staffel/staffel.toml dkim check
  staffelctl dkim check --nameserver 192.0.2.53      ask the zone's own server
  staffelctl dkim check --record s2026.zone          before publishing
)";

inline constexpr const char* kSrsDescription =
    R"(Makes and reads the SRS return-paths of routes with return_path = "srs".
"srs encode" prints the address the route gives an envelope sender:
SRS0=HASH=TT=DOMAIN=LOCAL@BOUNCE-DOMAIN (HASH: HMAC-SHA1 under the route's first
secret; TT: the day), the format postsrsd uses, so either side reads the
other's. "srs decode" prints the original sender of such an address, checking
the hash against every secret of the route's srs_secret_file and the age
against route.srs_max_age (21 days by default); SRS1 addresses give the SRS0
address they wrap. A tampered or expired address is refused with the reason.)";

inline constexpr const char* kSrsFooter = R"(EXIT STATUS
  0   done
  1   the address is tampered with, expired or not an SRS address
  64  bad command line, or no such SRS route in the policy
  78  the policy is invalid

EXAMPLES
  staffelctl srs encode --route relay alice@example.org
  staffelctl srs decode SRS0=HHHH=TT=example.org=alice@bounce.example.com
)";

}  // namespace staffel::app::staffelctl_help
