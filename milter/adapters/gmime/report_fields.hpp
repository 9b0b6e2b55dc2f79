// report_fields.hpp - the header-like field blocks inside DSN and ARF
// report parts, and the text rules they share with the MIME side.
//
// Purpose: the GMime-free half of parse_bounce_report() (bounce_report.hpp,
//   which states what is accepted and refused): field blocks of a
//   message/delivery-status or message/feedback-report body (folding,
//   comments, case-insensitive names, CRLF or LF), the DSN per-message and
//   per-recipient fields, the ARF fields, and the small text helpers both
//   halves use.
// Thread-safety: pure functions.
// Errors: Result values naming the part, line and field.
// Outside input: report bodies from anywhere, trusted for nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/gmime/bounce_report.hpp"
#include "core/result.hpp"
#include "core/text.hpp"

namespace staffel::adapters::report {

bool is_control(char c);
// A value for an error message: in double quotes, cut to 64 bytes, with
// quotes, backslashes, control and non-ASCII bytes escaped.
std::string quote(std::string_view s);
// Why an address taken from a report is unusable, or "" if it is usable.
std::string address_problem(std::string_view a);

// One header-like field of a report part (RFC 3464 §2.1, RFC 5965 §3.1).
struct Field {
    std::string name;   // lower-case
    std::string value;  // unfolded (each fold is one space), tabs as spaces, trimmed
};
using FieldBlock = std::vector<Field>;

// Splits a report part's body into blocks of fields, separated by empty (or
// blank) lines. `what` names the part in errors; more than `max_blocks`
// blocks is the error `too_many`.
core::Result<std::vector<FieldBlock>> parse_field_blocks(std::string_view body,
                                                         std::string_view what,
                                                         std::size_t max_blocks,
                                                         std::string_view too_many);

// The body of a message/delivery-status part.
core::Result<BounceReport> parse_delivery_status(std::string_view body);

// An ARF report's fields: everything but the complainants taken from the
// embedded message.
core::Result<BounceReport> parse_feedback_fields(const FieldBlock& block);

}  // namespace staffel::adapters::report
