// report_fields.cpp - see report_fields.hpp.
#include "adapters/gmime/report_fields.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

namespace staffel::adapters::report {

using core::ascii_lower;
using core::iequals;
using core::make_error;
using core::Result;
using core::trim_space;

constexpr std::size_t kMaxFieldBytes = std::size_t{8} * 1024;  // one unfolded field value
constexpr std::size_t kMaxFieldsPerBlock = 200;
constexpr std::size_t kMaxAddressBytes = 320;  // 64 (local part) + "@" + 255 (domain)
constexpr std::size_t kMaxQuotedBytes = 64;    // of a value quoted in an error message
constexpr std::size_t kMaxFeedbackTypeBytes = 64;

// ------------------------------------------------------------------ text

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

bool is_control(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
}

// A value for an error message: in double quotes, cut to kMaxQuotedBytes,
// with quotes, backslashes, control and non-ASCII bytes escaped.
std::string quote(std::string_view s) {
    std::string out = "\"";
    const std::size_t n = std::min(s.size(), kMaxQuotedBytes);
    for (std::size_t i = 0; i < n; ++i) {
        const auto u = static_cast<unsigned char>(s[i]);
        if (s[i] == '"' || s[i] == '\\') {
            out += '\\';
            out += s[i];
        } else if (is_control(s[i]) || u >= 0x80) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(u));
            out += hex;
        } else {
            out += s[i];
        }
    }
    if (s.size() > n) {
        out += "...";
    }
    out += '"';
    return out;
}

// Removes RFC 5322 comments ("(...)", nested, "\" quoting) and trims. An
// unbalanced value is returned whole, so that validating it fails.
std::string strip_comments(std::string_view v) {
    std::string out;
    std::size_t depth = 0;
    bool escaped = false;
    for (char c : v) {
        if (depth == 0) {
            if (c == '(') {
                depth = 1;
            } else {
                out += c;
            }
        } else if (escaped) {
            escaped = false;
        } else if (c == '\\') {
            escaped = true;
        } else if (c == '(') {
            ++depth;
        } else if (c == ')') {
            --depth;
        }
    }
    if (depth != 0) {
        return std::string(trim_space(v));
    }
    return std::string(trim_space(out));
}

// Cuts to at most `max` bytes, never inside a UTF-8 sequence.
std::string cut_utf8(std::string_view s, std::size_t max) {
    if (s.size() <= max) {
        return std::string(s);
    }
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
        --n;
    }
    return std::string(trim_space(s.substr(0, n)));
}

// "TYPE; VALUE" (RFC 3464 address-type, diagnostic-type, mta-name-type).
struct Typed {
    std::string_view type;
    std::string_view value;
};
std::optional<Typed> split_typed(std::string_view v) {
    const auto semi = v.find(';');
    if (semi == std::string_view::npos) {
        return std::nullopt;
    }
    const auto type = trim_space(v.substr(0, semi));
    if (type.empty() || type.find_first_of(" \t") != std::string_view::npos) {
        return std::nullopt;
    }
    return Typed{type, trim_space(v.substr(semi + 1))};
}

std::string_view unbracket(std::string_view a) {
    a = trim_space(a);
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') {
        a = trim_space(a.substr(1, a.size() - 2));
    }
    return a;
}

// Why an address taken from a report is unusable, or "" if it is usable.
std::string address_problem(std::string_view a) {
    if (a.empty()) {
        return "is empty";
    }
    if (a.size() > kMaxAddressBytes) {
        return "is longer than " + std::to_string(kMaxAddressBytes) + " bytes";
    }
    if (a.find('@') == std::string_view::npos) {
        return "has no \"@\"";
    }
    if (a.find_first_of(" \t<>,;()") != std::string_view::npos) {
        return "is not a single address";
    }
    return "";
}

// RFC 3463: class "." subject "." detail; class 2, 4 or 5, the others 1-3 digits.
bool is_status_code(std::string_view s) {
    const auto digits = [](std::string_view d) {
        return !d.empty() && d.size() <= 3 &&
               std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') {
        return false;
    }
    s.remove_prefix(2);
    const auto dot = s.find('.');
    return dot != std::string_view::npos && digits(s.substr(0, dot)) && digits(s.substr(dot + 1));
}

// ---------------------------------------------------------- field blocks

// Appends `text` to a value, turning tabs into spaces and refusing
// control bytes and overlong values. Returns why it failed, or "".
std::string append_value(std::string& value, std::string_view text, std::string_view name) {
    for (char c : text) {
        if (c == '\t') {
            c = ' ';
        } else if (is_control(c)) {
            return "field " + std::string(name) + " contains a control character";
        }
        value += c;
    }
    if (value.size() > kMaxFieldBytes) {
        return "field " + std::string(name) + " is longer than " + std::to_string(kMaxFieldBytes) +
               " bytes";
    }
    return "";
}

// Starts a field from "Name: value"; returns why it failed, or "".
std::string start_field(FieldBlock& block, std::string_view line, std::string& display_name) {
    const auto colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && is_wsp(name.back())) {
        name.remove_suffix(1);
    }
    const bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return c > ' ' && c < 0x7f && c != ':';
    });
    if (colon == std::string_view::npos || !name_ok) {
        return "not a \"Name: value\" field: " + quote(line);
    }
    if (block.size() >= kMaxFieldsPerBlock) {
        return "more than " + std::to_string(kMaxFieldsPerBlock) + " fields in one block";
    }
    display_name = name;
    block.push_back(Field{ascii_lower(name), {}});
    return append_value(block.back().value, trim_space(line.substr(colon + 1)), display_name);
}

// Adds a folded continuation line to the block's last field.
std::string continue_field(FieldBlock& block, std::string_view line,
                           const std::string& display_name) {
    if (block.empty()) {
        return "continuation line without a field before it";
    }
    std::string& value = block.back().value;
    if (!value.empty()) {
        value += ' ';
    }
    return append_value(value, trim_space(line), display_name);
}

// Splits a report part's body into blocks of fields, separated by empty (or
// blank) lines. `what` names the part in errors; more than `max_blocks`
// blocks is the error `too_many`.
Result<std::vector<FieldBlock>> parse_field_blocks(std::string_view body, std::string_view what,
                                                   std::size_t max_blocks,
                                                   std::string_view too_many) {
    std::vector<FieldBlock> blocks;
    FieldBlock block;
    std::string display_name;
    std::size_t line_no = 0;
    while (!body.empty()) {
        const auto eol = body.find('\n');
        std::string_view line = body.substr(0, eol);
        body = eol == std::string_view::npos ? std::string_view{} : body.substr(eol + 1);
        ++line_no;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (trim_space(line).empty()) {
            if (!block.empty()) {
                blocks.push_back(std::move(block));
                block.clear();
            }
            continue;
        }
        if (block.empty() && blocks.size() >= max_blocks) {
            return make_error(std::string(too_many));
        }
        const std::string problem = is_wsp(line.front()) ? continue_field(block, line, display_name)
                                                         : start_field(block, line, display_name);
        if (!problem.empty()) {
            return make_error(std::string(what) + ": line " + std::to_string(line_no) + ": " +
                              problem);
        }
    }
    if (!block.empty()) {
        blocks.push_back(std::move(block));
    }
    return blocks;
}

// The value of a field that may appear at most once; nullptr when absent.
// `where` and `name` (as RFCs spell it) are for the error.
Result<const std::string*> single_field(const FieldBlock& block, std::string_view name,
                                        std::string_view where) {
    const std::string* found = nullptr;
    for (const Field& f : block) {
        if (iequals(f.name, name)) {
            if (found != nullptr) {
                return make_error(std::string(where) + ": " + std::string(name) + " appears twice");
            }
            found = &f.value;
        }
    }
    return found;
}

// "dns; mx.example.com (comment)" -> "mx.example.com"; other types are kept.
std::string mta_name(std::string_view value) {
    std::string v = strip_comments(value);
    const auto typed = split_typed(v);
    if (typed && iequals(typed->type, "dns")) {
        return std::string(typed->value);
    }
    return v;
}

// ------------------------------------------------------------------ DSN

// The address of a Final-Recipient or Original-Recipient value: nullopt if
// its type is not rfc822 (or RFC 6533's utf-8 without escapes).
Result<std::optional<std::string>> typed_address(std::string_view value, std::string_view field,
                                                 std::string_view where) {
    const auto typed = split_typed(value);
    if (!typed) {
        return make_error(std::string(where) + ": " + std::string(field) + " " + quote(value) +
                          " has no address type");
    }
    const bool rfc822 = iequals(typed->type, "rfc822");
    const bool utf8 =
        iequals(typed->type, "utf-8") && typed->value.find('\\') == std::string_view::npos;
    if (!rfc822 && !utf8) {
        return std::optional<std::string>{};
    }
    const std::string_view address = unbracket(typed->value);
    const std::string problem = address_problem(address);
    if (!problem.empty()) {
        return make_error(std::string(where) + ": " + std::string(field) + " address " +
                          quote(address) + " " + problem);
    }
    return std::optional<std::string>{std::string(address)};
}

Result<std::string> recipient_address(const FieldBlock& block, const std::string& where) {
    auto final_rcpt = single_field(block, "Final-Recipient", where);
    if (!final_rcpt) {
        return final_rcpt.error();
    }
    auto original = single_field(block, "Original-Recipient", where);
    if (!original) {
        return original.error();
    }
    if (*final_rcpt == nullptr && *original == nullptr) {
        return make_error(where + ": no Final-Recipient field");
    }
    for (const auto& [value, field] :
         {std::pair{*final_rcpt, "Final-Recipient"}, std::pair{*original, "Original-Recipient"}}) {
        if (value == nullptr) {
            continue;
        }
        auto address = typed_address(*value, field, where);
        if (!address) {
            return address.error();
        }
        if (address->has_value()) {
            return std::move(address).value().value();
        }
    }
    const std::string* shown = *final_rcpt != nullptr ? *final_rcpt : *original;
    return make_error(where + ": no rfc822 address in " +
                      (*final_rcpt != nullptr ? "Final-Recipient " : "Original-Recipient ") +
                      quote(*shown));
}

Result<std::string> recipient_action(const FieldBlock& block, const std::string& where) {
    auto action = single_field(block, "Action", where);
    if (!action) {
        return action.error();
    }
    if (*action == nullptr) {
        return make_error(where + ": no Action field");
    }
    std::string value = ascii_lower(strip_comments(**action));
    for (std::string_view known : {"failed", "delayed", "delivered", "relayed", "expanded"}) {
        if (value == known) {
            return value;
        }
    }
    return make_error(where + ": Action " + quote(**action) +
                      " is not failed, delayed, delivered, relayed or expanded");
}

Result<std::string> recipient_status(const FieldBlock& block, const std::string& where,
                                     std::string_view action) {
    auto status = single_field(block, "Status", where);
    if (!status) {
        return status.error();
    }
    if (*status == nullptr) {
        if (action == "failed") {
            return make_error(where + ": Action failed without a Status");
        }
        return std::string();
    }
    std::string value = strip_comments(**status);
    if (!is_status_code(value)) {
        return make_error(where + ": Status " + quote(**status) + " is not a status code");
    }
    return value;
}

// "smtp; 550 5.1.1 ..." -> "550 5.1.1 ...", cut to the bound.
std::string diagnostic_text(std::string_view value) {
    if (const auto typed = split_typed(value)) {
        value = typed->value;
    }
    return cut_utf8(trim_space(value), kMaxBounceDiagnosticBytes);
}

// One per-recipient block; `index` counts from 1.
Result<BounceRecipient> parse_recipient(const FieldBlock& block, std::size_t index) {
    const std::string where = "recipient " + std::to_string(index);
    BounceRecipient r;
    auto address = recipient_address(block, where);
    if (!address) {
        return address.error();
    }
    r.address = std::move(address).value();
    auto action = recipient_action(block, where);
    if (!action) {
        return action.error();
    }
    r.action = std::move(action).value();
    auto status = recipient_status(block, where, r.action);
    if (!status) {
        return status.error();
    }
    r.status = std::move(status).value();
    auto diagnostic = single_field(block, "Diagnostic-Code", where);
    if (!diagnostic) {
        return diagnostic.error();
    }
    if (*diagnostic != nullptr) {
        r.diagnostic = diagnostic_text(**diagnostic);
    }
    return r;
}

// The body of a message/delivery-status part.
Result<BounceReport> parse_delivery_status(std::string_view body) {
    auto blocks =
        parse_field_blocks(body, "delivery-status part", kMaxBounceRecipients + 1,
                           "delivery-status part has more than " +
                               std::to_string(kMaxBounceRecipients) + " per-recipient blocks");
    if (!blocks) {
        return blocks.error();
    }
    if (blocks->empty()) {
        return make_error("delivery-status part is empty");
    }
    if (blocks->size() < 2) {
        return make_error("delivery-status part has no per-recipient fields");
    }
    BounceReport report;
    report.kind = BounceReport::Kind::Dsn;
    auto mta = single_field(blocks->front(), "Reporting-MTA", "delivery-status part");
    if (!mta) {
        return mta.error();
    }
    if (*mta != nullptr) {
        report.reporting_mta = mta_name(**mta);
    }
    for (std::size_t i = 1; i < blocks->size(); ++i) {
        auto recipient = parse_recipient((*blocks)[i], i);
        if (!recipient) {
            return recipient.error();
        }
        report.recipients.push_back(std::move(recipient).value());
    }
    return report;
}

// ------------------------------------------------------------------ ARF

Result<std::string> feedback_type(const FieldBlock& block) {
    auto type = single_field(block, "Feedback-Type", "feedback-report part");
    if (!type) {
        return type.error();
    }
    if (*type == nullptr) {
        return make_error("feedback-report part has no Feedback-Type field");
    }
    std::string value = ascii_lower(strip_comments(**type));
    const bool token = !value.empty() && value.size() <= kMaxFeedbackTypeBytes &&
                       std::all_of(value.begin(), value.end(), [](char c) {
                           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                                  c == '_' || c == '.';
                       });
    if (!token) {
        return make_error("feedback-report part: Feedback-Type " + quote(**type) +
                          " is not a feedback type");
    }
    return value;
}

// Fills everything but the complainants taken from the embedded message.
Result<BounceReport> parse_feedback_fields(const FieldBlock& block) {
    const std::string where = "feedback-report part";
    BounceReport report;
    report.kind = BounceReport::Kind::Arf;
    auto type = feedback_type(block);
    if (!type) {
        return type.error();
    }
    report.feedback_type = std::move(type).value();
    auto mta = single_field(block, "Reporting-MTA", where);
    auto from = single_field(block, "Original-Mail-From", where);
    for (const auto* r : {&mta, &from}) {
        if (!*r) {
            return r->error();
        }
    }
    if (*mta != nullptr) {
        report.reporting_mta = mta_name(**mta);
    }
    if (*from != nullptr) {
        report.original_mail_from = std::string(unbracket(**from));
        if (report.original_mail_from.size() > kMaxAddressBytes) {
            return make_error(where + ": Original-Mail-From is longer than " +
                              std::to_string(kMaxAddressBytes) + " bytes");
        }
    }
    for (const Field& f : block) {
        if (f.name != "original-rcpt-to") {
            continue;
        }
        const std::string_view address = unbracket(f.value);
        const std::string problem = address_problem(address);
        if (!problem.empty()) {
            return make_error(where + ": Original-Rcpt-To address " + quote(address) + " " +
                              problem);
        }
        report.complainants.emplace_back(address);  // at most kMaxFieldsPerBlock
    }
    return report;
}

}  // namespace staffel::adapters::report
