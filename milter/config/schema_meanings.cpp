// schema_meanings.cpp - what each policy key means (see schema_doc.hpp).
#include <map>

#include "config/schema.hpp"
#include "config/schema_doc.hpp"

namespace staffel::config {

namespace {

const std::map<std::string_view, std::string_view>& meanings() {
    static const std::map<std::string_view, std::string_view> m{
        {"milter.socket",
         "Where staffeld listens. A stale unix socket left by a dead process is "
         "removed at start; a file that is not a socket, or a socket another "
         "live process listens on, is refused. Over `inet:` Staffel disables "
         "Nagle's algorithm so small milter packets are not delayed. Overridden "
         "by `--socket`. Takes effect at restart."},
        {"milter.user",
         "User to run as after opening the socket. The socket is handed to this "
         "user so it can be removed at exit. Takes effect at restart."},
        {"milter.group", "Group to run as. Takes effect at restart."},
        {"milter.socket_mode",
         "Permissions of the unix socket. The MTA's user must be able to "
         "connect."},
        {"milter.timeout",
         "I/O timeout of one milter read or write with the MTA (libmilter's "
         "`smfi_settimeout`)."},
        {"milter.backlog", "`listen(2)` backlog of the socket."},
        {"milter.drain_timeout",
         "On SIGTERM, how long messages already under way may take to finish "
         "before staffeld exits. The MTA applies `milter_default_action` to any "
         "still open."},
        {"milter.max_header_bytes",
         "Most header bytes (names and values) one message may have when "
         "staffeld reads headers (the policy signs with DKIM, or a quota depends "
         "on the stream). A message over it is refused with `552 5.3.4` at end "
         "of message: never signed half-read, never a crash."},
        {"milter.max_headers", "Most header fields one message may have; same treatment."},
        {"redis.address",
         "The Redis server every staffeld of a cluster shares. Checked with PING "
         "at start and when a reload changes it; an unreachable Redis is logged "
         "as a warning. Overridden by `--redis`."},
        {"redis.connect_timeout",
         "How long to wait when connecting to Redis. After a failed connection "
         "staffeld does not try again for a while (50 ms, doubling up to 1 s), "
         "so a dead Redis costs a message microseconds, and a restarted one is "
         "used again within a second."},
        {"redis.command_timeout",
         "How long one command (one script call per message) may take. Past it "
         "the call is a store error and `on_store_error` decides."},
        {"redis.prefix",
         "Put in front of every key Staffel writes, so several policies or other "
         "applications can share one Redis."},
        {"redis.username",
         "User for `AUTH username password` (Redis 6+ ACLs). Needs "
         "`password_file`."},
        {"redis.password_file",
         "File holding the Redis password on one line. Refused if group or "
         "others may access it (mode 0600 or 0400). Read at load and on reload "
         "(as `[milter] user`); the password is never logged."},
        {"redis.pool_size",
         "Most connections one staffeld keeps to Redis; a message waiting for a "
         "free one waits at most `command_timeout`."},
        {"redis.breaker_timeouts",
         "The circuit breaker for a Redis that hangs (stopped, overloaded, "
         "behind a network black hole): after this many round trips in a row "
         "time out, every store call fails at once (the store-error policy "
         "answers without waiting) and one probe at a time (a PING on a new "
         "connection) asks whether Redis answers again; the first answer "
         "closes the breaker. Each opening and closing is logged (warning, "
         "notice) and counted (`staffel_redis_breaker_transitions_total`). "
         "0 turns the breaker off: every message then waits up to "
         "`command_timeout`."},
        {"redis.breaker_probe_interval",
         "While the breaker is open, the pause before each probe. Mail flows "
         "again at most this long (plus one round trip) after Redis answers; "
         "a probe that gets no answer waits `command_timeout`, in the "
         "background, not in a message."},
        {"redis.on_store_error",
         "What a message gets when Redis cannot be reached or answers too late "
         "for its quota check: `tempfail` (`451 4.3.0`; the client retries, "
         "nothing is lost, nothing is over-admitted) or `accept` (fail open: the "
         "message passes unchecked and uncounted). Either way the decision is "
         "logged at warning level with a running count "
         "(`quota=store-error:tempfail` / `store-error:accepted` in the "
         "message's line; totals when staffeld stops). A message whose script "
         "ran but whose answer was lost when Redis died stays counted although "
         "it was tempfailed (at most one per open connection): counters err on "
         "the side of never over-admitting."},
        {"redis.sentinels",
         "Redis Sentinel: staffeld and staffelctl ask these sentinels (in turn, "
         "the last one that answered first) where the primary of `master_name` "
         "is, and connect there instead of `address` (`--redis` is then "
         "ignored). Each new connection checks with ROLE that the node is the "
         "primary, so nothing is written to a replica. A connection error or a "
         "`READONLY` reply makes the next connection ask the sentinels again: "
         "that is how a failover is followed (no `+switch-master` "
         "subscription); while no primary answers, a new connection is tried "
         "every 200 ms at most. Messages between the primary's death and the "
         "promotion get the `on_store_error` answer."},
        {"redis.master_name",
         "The name the sentinels monitor the primary under (`sentinel monitor "
         "NAME ...`). Used only with `sentinels`."},
        {"redis.sentinel_username",
         "User for `AUTH username password` to the sentinels. Needs "
         "`sentinel_password_file`."},
        {"redis.sentinel_password_file",
         "File holding the sentinels' password on one line, with the same "
         "rules as `password_file`; never logged."},
        {"redis.wait_replicas",
         "After each quota charge, `WAIT wait_replicas wait_timeout`, pipelined "
         "with the charge (no extra round trip): a charge counts only once that "
         "many replicas hold it, so a failover cannot lose it and over-admit. "
         "Fewer acknowledgements in time are a store error and `on_store_error` "
         "decides (the charge stays counted: never over-admitting). Cost per "
         "message, measured on loopback with one replica "
         "(tests/bench/wait_cost.py): the charge's round trip grows from 75 to "
         "100 µs (median, one client) and from 170 to 370 µs with 8 concurrent "
         "clients; the primary spends 15 to 25 µs more CPU per charge, so one "
         "primary charges about half as many messages per second (8 clients: "
         "21,000 without WAIT, 10,500 with). Across a network add one "
         "primary-to-replica round trip. Run at "
         "least `wait_replicas` + 1 replicas, or after a failover the promoted "
         "one has too few replicas left and every charge fails."},
        {"redis.wait_timeout",
         "How long `WAIT` may wait for the replicas; keep it below "
         "`command_timeout`. Used only with `wait_replicas`."},
        {"routing.default_stream", "The stream of mail no `[[stream]]` rule matches."},
        {"routing.default_route", "The route of streams that name none."},
        {"routing.spf_domains",
         "SPF pre-flight (libspf2): for mail whose envelope sender, as it will "
         "leave the route, is in one of these domains, Staffel asks whether each "
         "of the route's `egress_ips` would pass SPF; the first that would not "
         "(fail, softfail, neutral, none, temperror, permerror) triggers the "
         "route's `on_spf_fail`. Only the organisation's own domains belong "
         "here: the check makes DNS queries at end of header. The log line says "
         "`spf=pass` or `spf=softfail:IP->ACTION`."},
        {"routing.spf_timeout",
         "Most time one pre-flight may take (it then counts as temperror). Takes "
         "effect at restart."},
        {"routing.dmarc_alignment",
         "DMARC alignment prediction (RFC 7489). For every message whose header "
         "Staffel reads, it compares the From: domain with the d= of the "
         "signatures it adds and with the return-path domain as the message "
         "leaves, and logs `dmarc=pass(dkim=D,spf=D)`, "
         "`dmarc=fail(from=F,d=D,rp=R)` or `dmarc=unknown(no-from)`. `relaxed` "
         "(the DMARC default, `adkim=r`/`aspf=r`) compares organisational "
         "domains from the Public Suffix List (Debian's `publicsuffix` package, "
         "read through libpsl); `strict` wants the same domain. SPF counts as "
         "aligned only when the SPF pre-flight, where it ran, found no failure. "
         "Messages predicted to fail are counted; staffeld logs the counts when "
         "it stops. Nothing is refused because of the prediction."},
        {"route.on_spf_fail",
         "What the SPF pre-flight does when an egress IP would not pass: only "
         "log it, move the return-path onto the route's own `bounce_domain` (as "
         "`return_local@bounce_domain`, for routes that keep the sender's), or "
         "send the message over another route."},
        {"route.helo", "The HELO name the route's MTA uses, for SPF records with `%{h}`."},
        {"stream.name", "The stream this rule names. Several rules may name one stream."},
        {"stream.sasl_users", "The SASL login is one of these."},
        {"stream.senders", "The envelope sender is one of these."},
        {"stream.networks", "The client address is in one of these."},
        {"stream.daemon_names",
         "The MTA's `{daemon_name}` macro is one of these (Postfix: `-o "
         "milter_macro_daemon_name=submission` on a service in master.cf)."},
        {"stream.headers",
         "The message has a field of that name (with a value matching the glob, "
         "case-insensitive; `*` and `?`). Any one condition suffices."},
        {"stream.min_recipients", "The message has at least this many recipients."},
        {"stream.unsubscribe",
         "The bulk-sender gate (Gmail's and Yahoo's 2024 rules, RFC 8058) for "
         "this rule's mail when it lacks `List-Unsubscribe` or "
         "`List-Unsubscribe-Post`: add the missing ones (`List-Unsubscribe` from "
         "`unsubscribe_template`, `List-Unsubscribe-Post: "
         "List-Unsubscribe=One-Click`), refuse the message (`550 5.7.1`), or "
         "only log `unsubscribe=missing`. Added fields are DKIM-signed (both are "
         "in the default `dkim.sign_headers`)."},
        {"stream.unsubscribe_template",
         "The `List-Unsubscribe` value to add, e.g. "
         "`\"<https://example.com/u?c={header:X-Campaign-Id}>, "
         "<mailto:unsubscribe@example.com>\"`. One-click needs the https URI."},
        {"stream.route", "The route of this stream's mail."},
        {"route.name", "Names the route (log lines, `stream.route`, `fallback`). Unique."},
        {"route.bounce_domain", "The domain of the rewritten return-path; the MTA routes by it."},
        {"route.return_path", "See above."},
        {"route.return_local", "The local part of the return-path."},
        {"route.add_headers",
         "Fields appended to the header. Templates may hold `{header:Name}` "
         "(that field's value in the message), `{stream}`, `{route}` and "
         "`{sender_domain}`. They are signed with DKIM like every field in "
         "`dkim.sign_headers`."},
        {"route.strip_headers",
         "Fields removed (every occurrence), e.g. internal headers that must not "
         "leave."},
        {"route.dkim_keys",
         "Only these keys sign on this route (still only for the domains the "
         "identity may sign)."},
        {"route.egress_ips",
         "The addresses the route sends from (for the planned SPF pre-flight)."},
        {"route.srs_secret_file",
         "Secrets for SRS, one per line, mode 0600 or stricter: the first signs, "
         "every one verifies, so a new secret goes on top and the old one stays "
         "until its addresses expire. Never logged."},
        {"route.srs_max_age", "How old an SRS address may be when it is decoded."},
        {"route.fallback",
         "The route that takes this route's mail while an admin has it down "
         "(`staffelctl route down NAME`; every staffeld sharing the Redis sees "
         "it within a second). Its own fallback is taken if it is down too. A "
         "route that is down with no fallback in service answers `451 4.3.2`."},
        {"route.kind",
         "Who carries the route's mail: the organisation's own MTA or an ESP "
         "relay. The dashboard's in-house vs ESP split counts by it."},
        {"suppression.enabled", "`false` turns the checks off without removing the table."},
        {"suppression.fold_local_part",
         "Lower-case the local part, so `Bob@example.org` and `bob@example.org` "
         "are one entry. RFC 5321 lets a server tell them apart; practically "
         "none does. Changing it makes entries written under the other setting "
         "unreachable."},
        {"suppression.hash_secret_file",
         "Store addresses as HMAC-SHA-256 of the normalised address under the "
         "secret in this file (one line, mode 0600 or stricter), so a dump of "
         "Redis shows no address. Lookups, adds, removals and imports still "
         "work; `list` and `export` then show `h:HEX` and say so. Every node and "
         "`staffelctl` must use the same secret; changing it makes existing "
         "entries unreachable. The secret is never logged."},
        {"suppression.unsubscribe_streams",
         "The streams an `unsubscribe` entry blocks when it names none. Every "
         "other reason blocks every stream unless its entry says otherwise."},
        {"suppression.on_store_error",
         "What a recipient gets when Redis cannot answer its suppression "
         "lookup: `tempfail` (`451 4.3.0`) or `accept` (fail open: the "
         "recipient passes unchecked). Unset, `[redis] on_store_error` "
         "decides. Fail open here and fail closed on quotas (or the reverse) "
         "to weigh a lost unsubscribe against delayed mail."},
        {"suppression.local_view",
         "staffeld keeps a Bloom filter of every entry key in Redis and "
         "answers a recipient that is in no list without a round trip; a "
         "recipient the filter may hold (listed, or about 1 in 100 of the "
         "rest) is looked up in Redis as before. Entries written by "
         "`staffelctl` (`suppress add`, `import`, `ingest`) are announced on "
         "the stream PREFIX`suppress:changes` and enforced by every node "
         "within `local_view_max_lag`. Memory: about 2.5 bytes per entry "
         "(at least 128 KiB). `false`: every recipient is looked up in Redis."},
        {"suppression.local_view_poll",
         "How often staffeld reads the changes stream (one `XRANGE` per "
         "node, whatever the mail rate). Keep it well under "
         "`local_view_max_lag`."},
        {"suppression.local_view_max_lag",
         "The most a view may lag: a lookup is answered from it only if its "
         "last complete read of the changes stream was sent at most this long "
         "ago, else it goes to Redis (a dead or slow Redis, a view being "
         "rebuilt). So this is how long after `staffelctl suppress add` on "
         "any node every node refuses the address, at most."},
        {"suppression.local_view_rescan",
         "How often the view is rebuilt from a `SCAN` of every entry key, "
         "even when the changes stream lost nothing: it clears removed and "
         "expired entries from the filter, and picks up entries that scripts "
         "wrote to Redis without announcing them on the stream. A view is "
         "also rebuilt whenever the stream lost entries it had not read "
         "(trimmed at 100,000 entries, or a Redis restart) and when it holds "
         "twice the keys it was built with."},
        {"suppression.soft_bounce_limit",
         "Soft bounces (DSNs fed to `staffelctl ingest` whose status "
         "`dsn_status` calls `soft_bounce`: 4.x.x, 5.2.2) of one address "
         "within `soft_bounce_window` that make it a `hard_bounce` entry (source "
         "`soft-bounces`). A soft bounce of an address that already has a "
         "global entry blocking every stream is not counted (`ingest` prints "
         "`... is already suppressed ...`)."},
        {"suppression.soft_bounce_window",
         "The window soft bounces are counted in (from the first)."},
        {"suppression.soft_bounce_expires", "How long an entry made from soft bounces lasts."},
        {"suppression.dsn_status",
         "What `staffelctl ingest` makes of each recipient a DSN reports as "
         "failed (or delayed), by its status code (RFC 3463): a table of "
         "patterns (`\"5.1.1\"`, `\"5.7.*\"`, `\"4.*.*\"`) to `hard_bounce`, "
         "`soft_bounce` or `ignore`. Entries are added to the defaults (one for "
         "the same pattern replaces it); the most specific pattern that matches "
         "wins. See \"DSN status codes\" below."},
        {"suppression.ingest_max_size",
         "Largest message `staffelctl ingest` reads. A larger one is refused "
         "before parsing with exit 65 and the reason (pipe(8) returns it to the "
         "postmaster)."},
        {"suppression.ingest_memory_limit",
         "Address space `staffelctl ingest` caps itself at (`setrlimit`) before "
         "it reads a message, with 60 s of CPU time. Running out of either, or a "
         "crash in the parser, ends it with exit 75, so Postfix keeps the "
         "message and retries: never a signal. The parser's own bounds keep a 10 "
         "MiB report under about 60 MB, so the cap is only the net under a "
         "parser bug. Not applied in AddressSanitizer builds."},
        {"log.format",
         "The per-message line as `key=value` text, or as one JSON object with "
         "the same fields (see \"The per-message log line\"), so log shippers need "
         "no regular expressions. Other lines stay text."},
        {"stats.enabled", "Count and write statistics."},
        {"stats.flush_interval", "How often the counts go to Redis."},
        {"stats.hourly_retention", "How long hourly counts are kept (Redis expires them)."},
        {"stats.daily_retention", "How long daily counts are kept."},
        {"stats.max_values",
         "Distinct values each dimension may have per day, across all nodes; the "
         "rest are counted as `other`, so an application that makes up sender "
         "addresses cannot grow Redis without bound."},
        {"stats.max_buffered", "Distinct counters one staffeld keeps in memory between writes."},
        {"stats.tag_headers",
         "The message's tag (campaign): the value of the first of these fields "
         "present, e.g. `[\"X-Campaign-Id\", \"X-Mailjet-Campaign\"]`. Kept to ASCII "
         "letters, digits and `-._+=@/` (anything else becomes `_`) and cut at "
         "`tag_max_length`."},
        {"stats.strip_tag_headers",
         "Remove the tag fields before the message leaves (before signing: the "
         "signature covers what leaves)."},
        {"stats.tag_max_length", "Longest tag kept."},
        {"stats.feedback_id",
         "Adds `Feedback-ID:` (the header Gmail's feedback loop reports "
         "complaint rates by) with this template, e.g. "
         "`\"{tag}:{stream}:{sender_domain}:staffel\"`, before signing, so it is "
         "signed. Placeholders as in route header templates, plus `{tag}`. A "
         "message that has a Feedback-ID of its own keeps it and gets no second "
         "one."},
        {"events.enabled",
         "Write every decision as an event to the Redis Stream `PREFIXevents`, "
         "with the statistics write."},
        {"events.max_length", "Stream entries kept (`XADD MAXLEN ~`)."},
        {"events.max_buffered",
         "Events one staffeld keeps in memory while Redis is away; beyond that "
         "new events are dropped and counted in the log."},
        {"metrics.listen",
         "Serve Prometheus metrics of this node at `http://HOST:PORT/metrics`. "
         "Use a loopback address unless a firewall guards the port. Labels carry "
         "outcomes, streams, routes, reasons, algorithms and limit names only, "
         "never addresses or tags."},
        {"web.listen",
         "Where `staffelctl web` serves the dashboard and its JSON API "
         "(`--listen` overrides it). `HOST` is a numeric IPv4 or IPv6 address. "
         "Without `token_file`, only a loopback address (127.0.0.0/8, `::1`) is "
         "accepted: `staffelctl web` refuses to start on any other with exit "
         "status 64."},
        {"web.token_file",
         "A file (mode 0600 or stricter, one line of at least 16 characters) "
         "holding the token every request must carry: `Authorization: Bearer "
         "TOKEN`, or Basic authentication with the token as the password (any "
         "user name). Without it the API answers everyone who can reach the "
         "address."},
        {"web.census_interval",
         "How often `staffelctl web` counts the suppression list by reason (one "
         "background SCAN; no request ever scans)."},
        {"general.time_zone",
         "The policy's time zone: calendar quotas reset at local midnight, on "
         "Monday and on the first of the month here, DST changes included (a "
         "spring-forward day is 23 hours long, a fall-back day 25). Read from "
         "`/usr/share/zoneinfo` (package `tzdata`) through the date/tz library, "
         "once per process: after a `tzdata` update, restart staffeld (a reload "
         "keeps the rules already read). An unknown name is an error. Reply "
         "texts and `staffelctl quota show` give reset times in it."},
        {"log.level",
         "Least severe messages logged. At `info` every message gets one line: "
         "queue id, client, identity, envelope sender, recipient count, policy "
         "digest and action. `staffeld -v` forces `debug`. Logs go to syslog "
         "(facility `mail`), or to stderr with `-f`."},
        {"dkim.canonicalization",
         "The `c=` of every signature. A single name means that header algorithm "
         "with a `simple` body (RFC 6376 §3.5)."},
        {"dkim.expire", "Signatures expire this long after signing (`x=`)."},
        {"dkim.trusted_networks",
         "Unauthenticated clients in these networks may sign every configured "
         "domain. `[]` trusts no network."},
        {"dkim.authenticated",
         "What an authenticated client that no rule matches may sign: the domain "
         "of its login `user@domain` (a login without a domain signs nothing), "
         "every configured domain, or nothing."},
        {"dkim.overlap",
         "Which of a domain's keys in force sign: per algorithm the one with the "
         "latest `not_before`, or every one (key rotation, above)."},
        {"dkim.sign_headers",
         "Header fields signed, each as often as the message has it (`h=`; "
         "repeated fields are taken bottom-up). Replaces the default list."},
        {"dkim.oversign_headers",
         "Listed in `h=` once more than present (once when absent), so a field "
         "of that name added after signing breaks the signature. `[]` turns "
         "over-signing off."},
        {"dkim.keys.domain", "The `d=` domain. IDNs in A-label form (`xn--...`)."},
        {"dkim.keys.selector",
         "The `s=` selector; the public key is published at "
         "`SELECTOR._domainkey.DOMAIN`. A selector can be declared once per "
         "domain."},
        {"dkim.keys.algorithm", "Must match the key file."},
        {"dkim.keys.key",
         "PEM private key: RSA (PKCS#1 or PKCS#8, 1024..4096 bits) or Ed25519 "
         "(PKCS#8), unencrypted. Relative paths are relative to the policy file. "
         "Read at start, before privileges are dropped, and again on SIGHUP as "
         "`[milter] user` (so let that user own the file, mode 0600 or 0400; a "
         "key it cannot read makes the reload fail and the running policy stay); "
         "refused (at start and by `-n`, naming the file) when missing, readable "
         "by group or others, of another algorithm than declared, or an RSA key "
         "under 1024 bits."},
        {"dkim.keys.subdomains",
         "Also sign mail whose From: is a subdomain of `domain` (when no key is "
         "declared for the subdomain itself)."},
        {"dkim.keys.canonicalization", "This key's `c=`."},
        {"dkim.keys.not_before",
         "The key signs from this time on (key rotation, above): a TOML "
         "date-time such as `2026-07-01T00:00:00Z` or a string such as "
         "`\"2026-07-01T02:00:00+02:00\"`. A time without an offset is refused."},
        {"dkim.keys.not_after",
         "The key stops signing at this time; it must be later than "
         "`not_before`. Keep its record published a while after, for mail in "
         "flight."},
        {"dkim.senders.sasl_user", "The rule applies to this SASL login (case-insensitive)."},
        {"dkim.senders.networks",
         "The rule applies to clients in these networks. With `sasl_user`, both "
         "must match. A rule needs at least one of the two."},
        {"dkim.senders.domains",
         "From: domains the matching clients may sign (`\"*.example.com\"` is the "
         "subdomains, not `example.com` itself). `[]` forbids signing."},
        {"quota.name",
         "Names the limit in replies, log lines, `staffelctl quota` and the "
         "Redis keys. Unique in a policy. Renaming a limit starts its counters "
         "afresh."},
        {"quota.key",
         "What is counted separately (see above). `\"recipient_domain\"` is "
         "charged one recipient at a time at RCPT: a recipient over the limit "
         "gets the action's reply (`451 4.7.1` naming the limit and when to "
         "retry) and the message's other recipients go on; its charges are "
         "refunded when the message is refused or aborted later. Mail "
         "submitted without SMTP (the sendmail command) cannot be refused per "
         "recipient: the whole message is deferred if any recipient is over. "
         "It counts recipients, and `hold` and `streams` are refused."},
        {"quota.limit",
         "How many units per period."},
        {"quota.window",
         "`\"rolling\"` makes a 1d or 1w limit a rolling rate (24 hours back from "
         "now rather than since midnight)."},
        {"quota.burst",
         "Rolling rates only: units that may be sent at once. `\"300/1m\"` with "
         "`burst = 50`: 50 at once, then 5 a second."},
        {"quota.counts",
         "What one message costs: its accepted recipients, or 1."},
        {"quota.action",
         "See above."},
        {"quota.on_store_error",
         "What a message gets when Redis cannot charge this limit: `tempfail` "
         "or `accept`; unset, `[redis] on_store_error` decides. All limits "
         "that apply to a message are charged at once, so the message passes "
         "unchecked only when every one of them says `accept`; one that says "
         "`tempfail` (or inherits it) tempfails the message."},
        {"quota.domains",
         "The limit applies only to envelope senders of these domains. With "
         "`key = \"recipient_domain\"`: the recipient domains counted, which "
         "share one counter (`[\"gmail.com\", \"googlemail.com\"]`); "
         "without, each recipient domain has its own counter. IDNs in A-label "
         "form; recipients' domains are compared case-insensitively after "
         "IDNA conversion."},
        {"quota.sasl_users",
         "Only to these SASL logins (unauthenticated clients never match)."},
        {"quota.networks",
         "Only to clients in these networks."},
        {"quota.streams",
         "Only to messages of these streams."},
        {"quota.warmup_start",
         "Day 0 of the warm-up ramp, in `general.time_zone`. Before it, day 0's "
         "limit applies."},
        {"quota.warmup_initial", "Day 0's limit of a ramp by factor."},
        {"quota.warmup_factor", "Growth per day of a ramp by factor (`2` doubles daily)."},
        {"quota.warmup_schedule",
         "The limits of day 0, 1, 2, ... explicitly; after the last, `limit`. "
         "Instead of `warmup_initial` and `warmup_factor`."},
    };
    return m;
}

}  // namespace

std::string_view field_meaning(std::string_view name) {
    const auto it = meanings().find(name);
    return it == meanings().end() ? std::string_view() : it->second;
}

std::vector<std::string> meanings_without_field() {
    std::vector<std::string> out;
    for (const auto& [name, meaning] : meanings()) {
        bool found = false;
        for (const auto& f : schema()) {
            found = found || f.name() == name;
        }
        if (!found) {
            out.emplace_back(name);
        }
    }
    return out;
}

}  // namespace staffel::config
