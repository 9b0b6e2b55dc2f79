// bounce_report.hpp - delivery status notifications and abuse reports, read
// with GMime 3.
//
// Purpose: `staffelctl ingest` hands one message (a bounce or a feedback-loop
//   complaint, as Postfix's pipe(8) delivers it) to parse_bounce_report() and
//   turns the result into suppression entries. Two formats are understood:
//   - DSN (RFC 3464, RFC 6533): multipart/report; report-type=delivery-status
//     (or global-delivery-status) whose direct children include exactly one
//     message/delivery-status or message/global-delivery-status part.
//   - ARF (RFC 5965): multipart/report; report-type=feedback-report whose
//     direct children include exactly one message/feedback-report part.
//   The MIME structure and transfer encodings are GMime's; the header-like
//   field blocks inside the report part are parsed by report_fields.hpp
//   (folding, comments, case-insensitive names, CRLF or LF).
// Never guesses: anything that is not one of those reports, or a report
//   whose fields are missing or malformed, is an Error naming what is wrong,
//   e.g. "not a multipart/report (Content-Type is text/plain)" or
//   "recipient 2: Status \"9.x\" is not a status code". In particular:
//   - the multipart/report must end with its closing boundary (a truncated
//     report is refused, whatever part was cut);
//   - a DSN needs at least one per-recipient block after the per-message
//     block; each needs an Action, an rfc822 address in Final-Recipient (or,
//     failing that, Original-Recipient) and, when the Action is "failed", a
//     Status. A Status that is present must be a valid status code whatever
//     the Action. Any status class is accepted with "failed" (MTAs give up
//     on 4.x.x too); deciding what is a hard bounce is the caller's job;
//   - an ARF report needs a Feedback-Type; its field block must be one block.
//   A recipient or complainant address is returned as given (trimmed, angle
//   brackets removed) but must contain "@"; normalising it is the caller's
//   job (core::normalise_address).
// Accepted leniencies: one leading mbox "From " line (pipe(8) flag F) is
//   skipped; lines holding only spaces separate blocks like empty lines.
// Bounds: input over 10 MiB; more structure than GMime may build from it
//   (mime_budget.hpp: over 50,000 header fields, parameters and addresses,
//   or 5,000 lines starting with "--"), checked before GMime sees it, so
//   that a 10 MiB report parses in about 60 MB; more than 1000 recipients
//   or To: addresses, a block of more than 200 fields, a field value over
//   8 KiB or an address over 320 bytes. All are errors; the diagnostic text
//   is cut to 512 bytes (never inside a UTF-8 sequence).
// GMime objects are only read, never changed: see parameter() in the .cpp
//   for the GMime 3.2 bug that any change can set off.
//   Values quoted in error messages are cut to 64 bytes and escaped.
// Thread-safety: parse_bounce_report() may run on several threads at once;
//   GMime is initialised once (std::call_once) and never shut down, and each
//   call builds and frees its own GMime objects.
// Errors: Result values; no exceptions except std::bad_alloc.
// Outside input: the whole message comes from remote MTAs and abuse desks,
//   and is trusted for nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace staffel::adapters {

inline constexpr std::size_t kMaxBounceMessageBytes = std::size_t{10} * 1024 * 1024;
inline constexpr std::size_t kMaxBounceRecipients = 1000;
inline constexpr std::size_t kMaxBounceDiagnosticBytes = 512;

struct BounceRecipient {
    std::string address;     // Final-Recipient (rfc822 type) address, else Original-Recipient;
                             // as given, trimmed, without "rfc822;" and angle brackets
    std::string action;      // lower-case: failed | delayed | delivered | relayed | expanded
    std::string status;      // "5.1.1" (validated: class 2/4/5 . 1-3 digits . 1-3 digits),
                             // else "" (only when the Action is not "failed")
    std::string diagnostic;  // Diagnostic-Code text (after its type, e.g. "smtp;"), unfolded
                             // (each fold becomes one space), at most 512 bytes
};

struct BounceReport {
    enum class Kind { Dsn, Arf };
    Kind kind = Kind::Dsn;
    std::string reporting_mta;                // Reporting-MTA value ("dns;" stripped), or ""
    std::vector<BounceRecipient> recipients;  // Dsn: one per per-recipient block, in order
    std::string feedback_type;                // Arf: lower-case Feedback-Type (abuse, fraud,
                                              // virus, other, not-spam, ...)
    // Arf: addresses that received the reported mail: the report's
    // Original-Rcpt-To fields; if none, the To: of the embedded message
    // (message/rfc822, message/global, text/rfc822-headers or
    // message/global-headers part; To: entries without "@" are skipped).
    // May be empty: some reporters redact the recipient.
    std::vector<std::string> complainants;
    std::string original_mail_from;  // Arf: Original-Mail-From, angle brackets removed, or ""
    // The header fields of the reported message (the first message/rfc822,
    // message/global, text/rfc822-headers or message/global-headers part),
    // name and raw value, in order: at most kMaxOriginalHeaders fields, each
    // value cut at 8 KiB. Empty when the report carries none or they cannot
    // be read (that alone never makes the report an error). Statistics
    // attribute the report to the sender domain and tag found here.
    std::vector<std::pair<std::string, std::string>> original_headers;
};

inline constexpr std::size_t kMaxOriginalHeaders = 200;

// Parses one whole message (header and body, CRLF or LF line ends); see the
// file comment for what is accepted and refused.
core::Result<BounceReport> parse_bounce_report(std::string_view message);

}  // namespace staffel::adapters
