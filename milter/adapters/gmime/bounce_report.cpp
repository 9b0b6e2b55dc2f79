// bounce_report.cpp - see bounce_report.hpp.
#include "adapters/gmime/bounce_report.hpp"

#include <gmime/gmime.h>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "adapters/gmime/mime_budget.hpp"
#include "adapters/gmime/report_fields.hpp"
#include "core/headers.hpp"

namespace staffel::adapters {
namespace {

using core::ascii_lower;
using core::make_error;
using core::Result;
using core::trim_space;
using report::address_problem;
using report::FieldBlock;
using report::is_control;
using report::parse_delivery_status;
using report::parse_feedback_fields;
using report::parse_field_blocks;
using report::quote;

// ---------------------------------------------------------------- GMime

struct GObjectUnref {
    void operator()(void* object) const { g_object_unref(object); }
};
template <typename T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

// GLib's type-check macros expand to C casts; these are the checked casts.
template <typename T>
T* gcast(void* object, GType type) {
    if (object == nullptr ||
        g_type_check_instance_is_a(static_cast<GTypeInstance*>(object), type) == FALSE) {
        return nullptr;
    }
    return static_cast<T*>(object);
}

std::once_flag gmime_once;

void init_gmime() {
    std::call_once(gmime_once, [] { g_mime_init(); });
}

GPtr<GMimeMessage> parse_mime(std::string_view text) {
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(text.data(), text.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    return GPtr<GMimeMessage>(g_mime_parser_construct_message(parser.get(), nullptr));
}

// A Content-Type parameter of `object` as parsed, or nullptr; read only.
//
// Never call a GMime function that changes a parsed object, such as
// g_mime_multipart_get_boundary(), which invents and sets a boundary when
// the parameter is missing. Any change re-encodes the whole Content-Type
// field, and GMime 3.2's parameter encoder (g_mime_param_list_encode) loops
// for ever on a parameter whose value needs RFC 2231 encoding (a byte over
// 0x7f) and whose name is 70 to 72 bytes long: each RFC 2231 section it
// splits off is empty (78 - (name + 6) leaves at most 2 bytes, and the
// "%XX" back-off takes them away), so it appends "NAME*N*=" until GLib's
// allocator aborts. 901 bytes of bounce were enough to take 24 GB.
const char* parameter(GMimeObject* object, const char* name) {
    GMimeContentType* ct = g_mime_object_get_content_type(object);
    return ct != nullptr ? g_mime_content_type_get_parameter(ct, name) : nullptr;
}

// "type/subtype", lower-case.
std::string media_type(GMimeObject* object) {
    GMimeContentType* ct = g_mime_object_get_content_type(object);
    if (ct == nullptr) {
        return "text/plain";
    }
    const char* type = g_mime_content_type_get_media_type(ct);
    const char* subtype = g_mime_content_type_get_media_subtype(ct);
    return ascii_lower(type != nullptr ? type : "") + "/" +
           ascii_lower(subtype != nullptr ? subtype : "");
}

// A leaf part's content with its transfer encoding undone; `name` is for
// the error.
Result<std::string> decoded_content(GMimePart* part, std::string_view name) {
    GMimeDataWrapper* content = g_mime_part_get_content(part);
    if (content == nullptr) {
        return std::string();
    }
    GPtr<GMimeStream> out(g_mime_stream_mem_new());
    if (g_mime_data_wrapper_write_to_stream(content, out.get()) < 0) {
        return make_error(std::string(name) + " part could not be decoded");
    }
    GByteArray* bytes =
        g_mime_stream_mem_get_byte_array(gcast<GMimeStreamMem>(out.get(), GMIME_TYPE_STREAM_MEM));
    if (bytes == nullptr || bytes->data == nullptr) {
        return std::string();
    }
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

// The one direct child of the report whose media type is among `types`.
Result<GMimePart*> report_part(GMimeMultipart* report, std::initializer_list<const char*> types) {
    GMimePart* found = nullptr;
    int count = 0;
    const int n = g_mime_multipart_get_count(report);
    for (int i = 0; i < n; ++i) {
        GMimeObject* child = g_mime_multipart_get_part(report, i);
        const std::string type = media_type(child);
        if (std::find(types.begin(), types.end(), type) == types.end()) {
            continue;
        }
        ++count;
        found = gcast<GMimePart>(child, GMIME_TYPE_PART);
    }
    const std::string name = *types.begin();
    if (count == 0) {
        return make_error("multipart/report has no " + name + " part");
    }
    if (count > 1) {
        return make_error("multipart/report has " + std::to_string(count) + " " + name + " parts");
    }
    if (found == nullptr) {
        return make_error(name + " part is not a leaf part");
    }
    return found;
}

// The usable addresses of every To: field of `message`, parsed by the core's
// address-list parser from the fields as written (a malformed field gives
// none; the others still count).
void collect_to_addresses(GMimeMessage* message, std::vector<std::string>& out) {
    GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
    const int n = headers != nullptr ? g_mime_header_list_get_count(headers) : 0;
    for (int i = 0; i < n && out.size() <= kMaxBounceRecipients; ++i) {
        GMimeHeader* header = g_mime_header_list_get_header_at(headers, i);
        const char* name = header != nullptr ? g_mime_header_get_name(header) : nullptr;
        const char* value = header != nullptr ? g_mime_header_get_raw_value(header) : nullptr;
        if (name == nullptr || value == nullptr || !core::iequals(name, "To")) {
            continue;
        }
        for (auto& a : core::parse_address_list(value).value_or(std::vector<std::string>{})) {
            if (out.size() > kMaxBounceRecipients) {
                break;
            }
            if (address_problem(a).empty()) {
                out.push_back(std::move(a));
            }
        }
    }
}

// The header fields of `message`, bounded (BounceReport::original_headers).
void collect_headers(GMimeMessage* message, std::vector<std::pair<std::string, std::string>>& out) {
    constexpr std::size_t kMaxValue = 8192;
    GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
    const int n = headers != nullptr ? g_mime_header_list_get_count(headers) : 0;
    for (int i = 0; i < n && out.size() < kMaxOriginalHeaders; ++i) {
        GMimeHeader* header = g_mime_header_list_get_header_at(headers, i);
        const char* name = header != nullptr ? g_mime_header_get_name(header) : nullptr;
        const char* value = header != nullptr ? g_mime_header_get_raw_value(header) : nullptr;
        if (name != nullptr && value != nullptr) {
            out.emplace_back(name, std::string_view(value).substr(0, kMaxValue));
        }
    }
}

// What the first embedded message or header block says of the reported mail.
struct Embedded {
    std::vector<std::string> to;  // its To: addresses
    std::vector<std::pair<std::string, std::string>> headers;
};

Result<Embedded> embedded_original(GMimeMultipart* report) {
    Embedded out;
    const int n = g_mime_multipart_get_count(report);
    for (int i = 0; i < n; ++i) {
        GMimeObject* child = g_mime_multipart_get_part(report, i);
        GMimeMessage* message = nullptr;
        GPtr<GMimeMessage> headers;
        if (auto* wrapped = gcast<GMimeMessagePart>(child, GMIME_TYPE_MESSAGE_PART)) {
            message = g_mime_message_part_get_message(wrapped);
        } else if (const std::string type = media_type(child);
                   type == "text/rfc822-headers" || type == "message/global-headers") {
            auto* part = gcast<GMimePart>(child, GMIME_TYPE_PART);
            auto text = part != nullptr ? decoded_content(part, type) : Result(std::string());
            if (!text) {
                return text.error();
            }
            headers = parse_mime(*text);
            message = headers.get();
        } else {
            continue;
        }
        if (message != nullptr) {
            collect_to_addresses(message, out.to);
            collect_headers(message, out.headers);
        }
        break;
    }
    if (out.to.size() > kMaxBounceRecipients) {
        return make_error("the reported message's To: has more than " +
                          std::to_string(kMaxBounceRecipients) + " addresses");
    }
    return out;
}

Result<BounceReport> parse_dsn(GMimeMultipart* report) {
    auto part = report_part(report, {"message/delivery-status", "message/global-delivery-status"});
    if (!part) {
        return part.error();
    }
    auto body = decoded_content(*part, "delivery-status");
    if (!body) {
        return body.error();
    }
    auto parsed = parse_delivery_status(*body);
    if (parsed) {
        if (auto embedded = embedded_original(report)) {  // optional: never an error
            parsed.value().original_headers = std::move(embedded.value().headers);
        }
    }
    return parsed;
}

Result<BounceReport> parse_arf(GMimeMultipart* report) {
    auto part = report_part(report, {"message/feedback-report"});
    if (!part) {
        return part.error();
    }
    auto body = decoded_content(*part, "feedback-report");
    if (!body) {
        return body.error();
    }
    auto blocks = parse_field_blocks(*body, "feedback-report part", 1,
                                     "feedback-report part has more than one field block");
    if (!blocks) {
        return blocks.error();
    }
    auto parsed = parse_feedback_fields(blocks->empty() ? FieldBlock{} : blocks->front());
    if (!parsed) {
        return parsed;
    }
    auto embedded = embedded_original(report);
    if (!parsed->complainants.empty()) {
        // The embedded message only attributes the report (statistics):
        // whether it can be read does not change the report's verdict.
        if (embedded) {
            parsed.value().original_headers = std::move(embedded.value().headers);
        }
        return parsed;
    }
    if (!embedded) {
        return embedded.error();
    }
    BounceReport out = std::move(parsed).value();
    out.complainants = std::move(embedded.value().to);
    out.original_headers = std::move(embedded.value().headers);
    return out;
}

// Whether the close delimiter "--BOUNDARY--" starts a line of the message.
// Line by line, so that the work stays linear in the message's size however
// long the boundary is (each comparison stops at the line's end).
bool has_close_delimiter(std::string_view message, std::string_view boundary) {
    const std::string delimiter = "--" + std::string(boundary) + "--";
    while (!message.empty()) {
        if (message.substr(0, delimiter.size()) == delimiter) {
            return true;
        }
        const auto eol = message.find('\n');
        message = eol == std::string_view::npos ? std::string_view{} : message.substr(eol + 1);
    }
    return false;
}

// pipe(8) with flag F puts an mbox "From sender date" line first.
std::string_view skip_mbox_from(std::string_view message) {
    if (message.substr(0, 5) != "From ") {
        return message;
    }
    const auto eol = message.find('\n');
    return eol == std::string_view::npos ? std::string_view{} : message.substr(eol + 1);
}

Result<BounceReport> parse_report(GMimeObject* top, std::string_view message) {
    const std::string type = top != nullptr ? media_type(top) : "none";
    auto* report = gcast<GMimeMultipart>(top, GMIME_TYPE_MULTIPART);
    if (type != "multipart/report" || report == nullptr) {
        return make_error("not a multipart/report (Content-Type is " + type + ")");
    }
    const char* report_type_param = parameter(top, "report-type");
    const std::string report_type =
        ascii_lower(trim_space(report_type_param != nullptr ? report_type_param : ""));
    const bool dsn = report_type == "delivery-status" || report_type == "global-delivery-status";
    if (report_type.empty()) {
        return make_error("multipart/report has no report-type parameter");
    }
    if (!dsn && report_type != "feedback-report") {
        return make_error("multipart/report has report-type " + quote(report_type) +
                          ", not delivery-status or feedback-report");
    }
    const char* boundary = parameter(top, "boundary");
    if (boundary == nullptr || *boundary == '\0') {
        return make_error("multipart/report has no boundary parameter");
    }
    const std::string_view b(boundary);
    if (std::any_of(b.begin(), b.end(), is_control)) {
        return make_error("multipart/report has a boundary with a control character");
    }
    if (!has_close_delimiter(message, boundary)) {
        return make_error("multipart/report is truncated: no closing boundary " +
                          quote("--" + std::string(boundary) + "--"));
    }
    return dsn ? parse_dsn(report) : parse_arf(report);
}

}  // namespace

Result<BounceReport> parse_bounce_report(std::string_view message) {
    if (message.size() > kMaxBounceMessageBytes) {
        return make_error("message is larger than 10 MiB (" + std::to_string(message.size()) +
                          " bytes)");
    }
    message = skip_mbox_from(message);
    if (trim_space(message).empty()) {
        return make_error("message is empty");
    }
    if (auto problem = mime_budget_problem(message); !problem.empty()) {
        return make_error("message has " + problem);
    }
    init_gmime();
    const GPtr<GMimeMessage> parsed = parse_mime(message);
    if (!parsed) {
        return make_error("not a MIME message (no header fields)");
    }
    return parse_report(g_mime_message_get_mime_part(parsed.get()), message);
}

}  // namespace staffel::adapters
