// csv.cpp - see csv.hpp.
#include "core/suppress/csv.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <utility>

#include "core/text.hpp"
#include "core/tz.hpp"
#include "core/units.hpp"

namespace staffel::core {
namespace {

constexpr std::size_t kFields = 7;  // with added; the older header has the first six
constexpr std::array<std::string_view, kFields> kFieldNames{"address", "reason", "scope", "streams",
                                                            "expires", "source", "added"};
constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::size_t kHexDigits = 64;
constexpr std::size_t kMaxStreamName = 64;
constexpr std::int64_t kMaxEpoch = 253402300799;  // 9999-12-31T23:59:59Z
constexpr std::string_view kReasonsHint = "hard_bounce, complaint, unsubscribe, manual or invalid";
constexpr std::string_view kExpiresHint =
    "a duration from now such as 30d or 12h (at least 1s), an RFC 3339 time such as "
    "2027-01-31T00:00:00Z, epoch seconds, or empty for never";
constexpr std::string_view kAddedHint =
    "an RFC 3339 time such as 2026-11-20T14:03:00Z, epoch seconds, or empty for the time of "
    "the import";
constexpr std::string_view kStreamsHint =
    "\"*\" (every stream), stream names joined by \";\" (letters, digits, '-', '_', '.'), "
    "or empty for the reason's default";

// Text from the file, quoted for a message: printable ASCII kept, anything
// else as \xHH, at most 60 bytes shown.
std::string shown(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out = "\"";
    std::size_t n = 0;
    for (char c : text) {
        if (++n > 60) {
            out += "...";
            break;
        }
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f && c != '"' && c != '\\') {
            out += c;
        } else {
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 15];
        }
    }
    return out + "\"";
}

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Splits one record (line breaks inside quotes kept, the final one
// removed) into fields per RFC 4180. On error, `column` is the 1-based
// field at fault.
Result<std::vector<std::string>> split_fields(std::string_view text, std::size_t& column) {
    std::vector<std::string> fields;
    std::size_t i = 0;
    for (;;) {
        column = fields.size() + 1;
        std::string field;
        if (i < text.size() && text[i] == '"') {
            ++i;
            for (;;) {
                if (i >= text.size()) {
                    return make_error("the quoted field is not closed (a '\"' is missing)");
                }
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                field += text[i++];
            }
            if (i < text.size() && text[i] != ',') {
                return make_error(
                    "text follows the closing '\"' of a quoted field; a '\"' inside a quoted "
                    "field is written \"\"");
            }
        } else {
            const auto end = std::min(text.find(',', i), text.size());
            field.assign(text.substr(i, end - i));
            if (field.find('"') != std::string::npos) {
                return make_error(
                    "a '\"' inside an unquoted field; quote the whole field and double the '\"'");
            }
            if (field.find_first_of("\r\n") != std::string::npos) {
                return make_error("a line break inside an unquoted field");
            }
            i = end;
        }
        fields.push_back(std::move(field));
        if (i >= text.size()) {
            break;
        }
        ++i;  // the ','
    }
    return fields;
}

std::string column_prefix(std::size_t column) {
    std::string p = "column " + std::to_string(column);
    if (column >= 1 && column <= kFields) {
        p += " (";
        p += kFieldNames[column - 1];
        p += ')';
    }
    return p + ": ";
}

}  // namespace

bool looks_hashed(std::string_view address) {
    return address.size() >= 2 && (address[0] == 'h' || address[0] == 'H') && address[1] == ':' &&
           address.find('@') == std::string_view::npos;
}

Result<std::string> parse_hashed_address(std::string_view text) {
    const auto hex = text.substr(std::min<std::size_t>(2, text.size()));
    if (!looks_hashed(text) || hex.size() != kHexDigits ||
        !std::all_of(hex.begin(), hex.end(), is_hex)) {
        return make_error(shown(text) +
                          " is not an already-hashed address; expected \"h:\" and 64 hex digits, "
                          "or an address");
    }
    std::string out = "h:";
    for (char c : hex) {
        out += (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return out;
}

bool valid_stream_name(std::string_view name) {
    return !name.empty() && name.size() <= kMaxStreamName &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
           });
}

namespace {

// Epoch seconds or an RFC 3339 time; nullopt if neither (or out of range).
std::optional<std::int64_t> parse_time(std::string_view text) {
    std::optional<std::int64_t> t;
    if (all_digits(text)) {
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec == std::errc() && p == text.data() + text.size() && v <= kMaxEpoch) {
            t = v;
        }
    } else {
        t = parse_rfc3339(text);
    }
    if (!t || *t <= 0 || *t > kMaxEpoch) {
        return std::nullopt;
    }
    return t;
}

// A duration from `now`, rounded up to whole seconds; nullopt if `text`
// is not a duration of at least 1s.
std::optional<std::int64_t> parse_from_now(std::string_view text, std::int64_t now) {
    const auto d = parse_duration(text);
    if (!d || d->count() < 1000 || now <= 0) {
        return std::nullopt;
    }
    const std::int64_t seconds = (d->count() + 999) / 1000;
    if (seconds > kMaxEpoch - now) {
        return std::nullopt;
    }
    return now + seconds;
}

}  // namespace

Result<std::int64_t> parse_csv_added(std::string_view text) {
    text = trim_blanks(text);
    if (text.empty() || text == "0") {
        return std::int64_t{0};
    }
    if (auto t = parse_time(text)) {
        return *t;
    }
    return make_error(shown(text) + " is not a time; expected " + std::string(kAddedHint));
}

Result<std::int64_t> parse_csv_expires(std::string_view text, std::int64_t now) {
    text = trim_blanks(text);
    if (text.empty() || text == "0") {
        return std::int64_t{0};
    }
    auto t = parse_time(text);
    if (!t && !all_digits(text)) {
        t = parse_from_now(text, now);
    }
    if (!t) {
        return make_error(shown(text) + " is not a time; expected " + std::string(kExpiresHint));
    }
    if (now > 0 && *t <= now) {
        const auto when = format_rfc3339_utc(*t);
        return make_error(shown(text) + (when == text ? "" : " (" + when + ")") +
                          " is in the past; an entry that has expired is not imported");
    }
    return *t;
}

Result<std::vector<std::string>> parse_csv_streams(
    std::string_view text, SuppressReason reason,
    const std::vector<std::string>& unsubscribe_streams) {
    text = trim_blanks(text);
    if (text.empty()) {
        return default_streams(reason, unsubscribe_streams);
    }
    std::vector<std::string> streams;
    if (text == "*") {
        return streams;
    }
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto end = std::min(text.find(';', start), text.size());
        const auto name = trim_blanks(text.substr(start, end - start));
        if (!valid_stream_name(name)) {
            return make_error(shown(name) + " is not a stream name; expected " +
                              std::string(kStreamsHint));
        }
        if (std::find(streams.begin(), streams.end(), name) == streams.end()) {
            streams.emplace_back(name);
        }
        start = end + 1;
    }
    return streams;
}

std::string SuppressCsvRecord::error_text() const {
    return std::to_string(line) + ": " + (row ? std::string() : row.error().message);
}

SuppressCsvReader::SuppressCsvReader(SuppressCsvOptions options) : options_(std::move(options)) {}

void SuppressCsvReader::feed(std::string_view chunk) {
    compact();
    buffer_.append(chunk);
}

void SuppressCsvReader::finish() {
    finished_ = true;
}

void SuppressCsvReader::compact() {
    if (pos_ > 0 && pos_ * 2 >= buffer_.size()) {
        buffer_.erase(0, pos_);
        pos_ = 0;
    }
}

std::size_t SuppressCsvReader::find_record_end(std::size_t& breaks) const {
    // RFC 4180: a '"' opens a quoted field only at the start of a field; in
    // one, "" is a '"' and a lone '"' closes it. A stray '"' elsewhere is
    // left for split_fields() to report, and cannot swallow later lines.
    bool quoted = false;
    bool field_start = true;
    breaks = 0;
    for (std::size_t i = pos_; i < buffer_.size(); ++i) {
        if (i - pos_ >= kMaxCsvRecord) {
            return std::string::npos;
        }
        const char c = buffer_[i];
        if (c == '\n') {
            ++breaks;
        }
        if (quoted) {
            if (c == '"') {
                if (i + 1 == buffer_.size() && !finished_) {
                    return std::string::npos;  // "" or the end of the field: wait and see
                }
                if (i + 1 < buffer_.size() && buffer_[i + 1] == '"') {
                    ++i;
                } else {
                    quoted = false;
                }
            }
            field_start = false;
            continue;
        }
        if (c == '\n') {
            return i;
        }
        quoted = c == '"' && field_start;
        field_start = c == ',';
    }
    return finished_ && pos_ < buffer_.size() ? buffer_.size() : std::string::npos;
}

std::optional<SuppressCsvRecord> SuppressCsvReader::next() {
    for (;;) {
        if (skipping_) {
            const auto nl = buffer_.find('\n', pos_);
            if (nl == std::string::npos) {
                pos_ = buffer_.size();
                return std::nullopt;
            }
            pos_ = nl + 1;
            line_ = skipping_line_ + 1;
            skipping_ = false;
        }
        if (pos_ >= buffer_.size()) {
            if (finished_ && records_ == 0) {
                ++records_;
                SuppressCsvRecord r;
                r.line = 1;
                r.header = true;
                r.row = make_error("the file is empty; expected the header line " +
                                   std::string(kSuppressCsvHeader));
                return r;
            }
            return std::nullopt;
        }
        std::size_t breaks = 0;
        const auto end = find_record_end(breaks);
        const std::size_t line = line_;
        if (end == std::string::npos) {
            if (buffer_.size() - pos_ <= kMaxCsvRecord) {
                return std::nullopt;  // more input needed
            }
            // Overlong: report it, then skip to the end of its first line.
            // (Quotes are not trusted any more: a stray one may be the cause.)
            skipping_ = true;
            skipping_line_ = line;
            ++records_;
            SuppressCsvRecord r;
            r.line = line;
            r.header = records_ == 1;
            r.row = make_error("the record is longer than " + std::to_string(kMaxCsvRecord) +
                               " bytes (an unclosed '\"' makes the rest of the file one field)");
            return r;
        }
        std::string_view text(buffer_.data() + pos_, end - pos_);
        pos_ = end < buffer_.size() ? end + 1 : end;
        line_ += breaks;
        if (end == buffer_.size()) {
            ++line_;  // the last line had no line break
        }
        if (!text.empty() && text.back() == '\r') {
            text.remove_suffix(1);
        }
        if (records_ == 0 && text.substr(0, kBom.size()) == kBom) {
            text.remove_prefix(kBom.size());
        }
        if (text.empty()) {
            continue;  // an empty line
        }
        ++records_;
        return parse(text, line);
    }
}

SuppressCsvRecord SuppressCsvReader::parse(std::string_view text, std::size_t line) {
    SuppressCsvRecord r;
    r.line = line;
    if (records_ == 1) {
        r.header = true;
        if (text == kSuppressCsvHeader || text == kSuppressCsvHeaderNoAdded) {
            fields_ = text == kSuppressCsvHeader ? kFields : kFields - 1;
            r.row = SuppressCsvRow{};
        } else {
            r.row = make_error("the header line must be exactly " +
                               std::string(kSuppressCsvHeader) + " (or, without added, " +
                               std::string(kSuppressCsvHeaderNoAdded) + "); got " + shown(text));
        }
        return r;
    }
    std::size_t column = 0;
    auto fields = split_fields(text, column);
    if (!fields) {
        r.row = make_error(column_prefix(column) + fields.error().message);
        return r;
    }
    const auto& f = *fields;
    if (f.size() != fields_) {
        r.row = make_error(
            "expected " + std::to_string(fields_) + " fields (" +
            std::string(fields_ == kFields ? kSuppressCsvHeader : kSuppressCsvHeaderNoAdded) +
            "), got " + std::to_string(f.size()));
        return r;
    }
    auto fail = [&](std::size_t col, const std::string& why) {
        r.row = make_error(column_prefix(col) + why);
        return r;
    };
    SuppressCsvRow row;
    const auto address = trim_blanks(f[0]);
    if (looks_hashed(address)) {
        auto h = parse_hashed_address(address);
        if (!h) {
            return fail(1, h.error().message);
        }
        if (!options_.accept_hashed) {
            return fail(1,
                        "an already-hashed address (h:HEX) is accepted only by a store that "
                        "hashes addresses with the same secret ([suppression] hash_secret_file)");
        }
        row.address = std::move(h).value();
        row.hashed = true;
    } else {
        auto a = normalise_address(address, options_.rules, options_.idna);
        if (!a) {
            return fail(1, shown(address) + " is not an address we keep: " + a.error().message);
        }
        row.address = std::move(a).value();
    }
    const auto reason = parse_reason(trim_blanks(f[1]));
    if (!reason) {
        return fail(2, "unknown reason " + shown(trim_blanks(f[1])) + "; expected " +
                           std::string(kReasonsHint));
    }
    row.reason = *reason;
    const auto scope = trim_blanks(f[2]);
    if (!scope.empty() && scope != "*") {
        auto d = normalise_domain(scope, options_.idna);
        if (!d) {
            return fail(3, shown(scope) + " is not a domain (" + d.error().message +
                               "); expected a sender domain, or empty for a global entry");
        }
        row.scope = std::move(d).value();
    }
    auto streams = parse_csv_streams(f[3], row.reason, options_.unsubscribe_streams);
    if (!streams) {
        return fail(4, streams.error().message);
    }
    row.streams = std::move(streams).value();
    auto expires = parse_csv_expires(f[4], options_.now);
    if (!expires) {
        return fail(5, expires.error().message);
    }
    row.expires_at = *expires;
    row.source = clean_source(f[5]);
    if (fields_ == kFields) {
        auto added = parse_csv_added(f[6]);
        if (!added) {
            return fail(7, added.error().message);
        }
        row.added_at = *added;
    }
    r.row = std::move(row);
    return r;
}

std::string csv_field(std::string_view text) {
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
        return std::string(text);
    }
    std::string out = "\"";
    for (char c : text) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    return out + "\"";
}

std::string suppress_csv_header_line() {
    return std::string(kSuppressCsvHeader) + "\n";
}

std::string format_suppress_csv_row(const SuppressionEntry& e) {
    std::string streams;
    if (e.streams.empty()) {
        streams = "*";
    } else {
        for (std::size_t i = 0; i < e.streams.size(); ++i) {
            streams += i == 0 ? "" : ";";
            streams += e.streams[i];
        }
    }
    std::string out = csv_field(e.address);
    out += ',';
    out += reason_name(e.reason);
    out += ',';
    out += csv_field(e.scope);
    out += ',';
    out += csv_field(streams);
    out += ',';
    if (e.expires_at != 0) {
        out += format_rfc3339_utc(e.expires_at);
    }
    out += ',';
    out += csv_field(e.source);
    out += ',';
    if (e.added_at > 0) {
        out += format_rfc3339_utc(e.added_at);
    }
    out += '\n';
    return out;
}

}  // namespace staffel::core
