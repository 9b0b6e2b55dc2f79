// dns_record.cpp - DKIM key records and zone-file TXT text; see dns_record.hpp.
#include "core/dkim/dns_record.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>

#include "core/text.hpp"

namespace staffel::core {
namespace {

bool is_fws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

std::string line_error(std::size_t line, const std::string& message) {
    return "line " + std::to_string(line) + ": " + message;
}

// ---------------------------------------------------------------- names

// LDH labels, '_' too when `underscore`; '-' never at either end of a label.
bool valid_labels(std::string_view text, bool underscore) {
    if (text.empty() || text.size() > 253) {
        return false;
    }
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto dot = text.find('.', start);
        const auto end = dot == std::string_view::npos ? text.size() : dot;
        const auto label = text.substr(start, end - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
            return false;
        }
        for (char c : label) {
            if (!is_alpha(c) && !is_digit(c) && c != '-' && !(underscore && c == '_')) {
                return false;
            }
        }
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    return true;
}

std::string_view without_trailing_dot(std::string_view text) {
    if (!text.empty() && text.back() == '.') {
        text.remove_suffix(1);
    }
    return text;
}

// ---------------------------------------------------------------- tag lists

struct Tag {
    std::string name;
    std::string value;  // FWS at either end removed
};

bool valid_tag_name(std::string_view name) {
    if (name.empty() || !is_alpha(name.front())) {
        return false;
    }
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return is_alpha(c) || is_digit(c) || c == '_'; });
}

// RFC 6376 §3.2, leniently: empty tag-specs (";;", a trailing ';') are skipped.
Result<std::vector<Tag>> parse_tag_list(std::string_view text) {
    std::vector<Tag> tags;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto semi = text.find(';', start);
        if (semi == std::string_view::npos) {
            semi = text.size();
        }
        const auto spec = trim_space(text.substr(start, semi - start));
        start = semi + 1;
        if (spec.empty()) {
            continue;
        }
        const auto eq = spec.find('=');
        if (eq == std::string_view::npos) {
            return make_error("\"" + std::string(spec) + "\" is not a tag=value pair");
        }
        const auto name = trim_space(spec.substr(0, eq));
        if (!valid_tag_name(name)) {
            return make_error("bad tag name \"" + std::string(name) + "\"");
        }
        if (std::any_of(tags.begin(), tags.end(), [&](const Tag& t) { return t.name == name; })) {
            return make_error("tag " + std::string(name) + "= appears twice");
        }
        tags.push_back({std::string(name), std::string(trim_space(spec.substr(eq + 1)))});
    }
    return tags;
}

// "a : b:c" -> {"a", "b", "c"} (RFC 6376's colon-separated lists with FWS).
std::vector<std::string> colon_list(std::string_view text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto colon = text.find(':', start);
        if (colon == std::string_view::npos) {
            colon = text.size();
        }
        const auto item = trim_space(text.substr(start, colon - start));
        if (!item.empty()) {
            out.emplace_back(item);
        }
        start = colon + 1;
    }
    return out;
}

bool is_base64(std::string_view text) {
    if (text.size() % 4 != 0) {
        return false;
    }
    std::size_t padding = 0;
    for (char c : text) {
        if (c == '=') {
            ++padding;
            continue;
        }
        const bool alphabet = is_alpha(c) || is_digit(c) || c == '+' || c == '/';
        if (!alphabet || padding > 0) {
            return false;
        }
    }
    return padding <= 2;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) {
            out += separator;
        }
        out += item;
    }
    return out;
}

// ---------------------------------------------------------------- zone text

struct Token {
    std::string text;
    bool quoted = false;
};

// One logical line of a master file: its tokens, where it starts, and
// whether it starts with a blank (the owner is the previous record's).
struct Entry {
    std::vector<Token> tokens;
    std::size_t line = 0;
    bool blank_owner = false;
};

class ZoneLexer {
  public:
    explicit ZoneLexer(std::string_view zone) : zone_(zone) {}

    Result<std::vector<Entry>> run() {
        std::vector<Entry> entries;
        Entry current;
        bool line_start = true;
        while (i_ < zone_.size()) {
            const char c = zone_[i_];
            if (c == '\n') {
                ++line_;
                ++i_;
                if (depth_ == 0) {
                    flush(entries, current);
                    line_start = true;
                }
                continue;
            }
            if (line_start) {
                current.line = line_;
                current.blank_owner = c == ' ' || c == '\t';
                line_start = false;
            }
            if (auto r = step(current); !r) {
                return r.error();
            }
        }
        if (depth_ > 0) {
            return make_error(line_error(paren_line_, "'(' is never closed"));
        }
        flush(entries, current);
        return entries;
    }

  private:
    static void flush(std::vector<Entry>& entries, Entry& current) {
        if (!current.tokens.empty()) {
            entries.push_back(std::move(current));
        }
        current = Entry{};
    }

    // Consumes one character or one token of the current line.
    Result<bool> step(Entry& current) {
        const char c = zone_[i_];
        if (c == ' ' || c == '\t' || c == '\r') {
            ++i_;
        } else if (c == ';') {
            while (i_ < zone_.size() && zone_[i_] != '\n') {
                ++i_;
            }
        } else if (c == '(') {
            if (depth_++ == 0) {
                paren_line_ = line_;
            }
            ++i_;
        } else if (c == ')') {
            if (depth_ == 0) {
                return make_error(line_error(line_, "')' without '('"));
            }
            --depth_;
            ++i_;
        } else {
            auto token = c == '"' ? quoted() : unquoted();
            if (!token) {
                return token.error();
            }
            current.tokens.push_back(std::move(token).value());
        }
        return true;
    }

    Result<Token> quoted() {
        const auto start_line = line_;
        Token token{"", true};
        ++i_;  // the opening quote
        while (i_ < zone_.size() && zone_[i_] != '"') {
            if (zone_[i_] == '\n') {
                break;
            }
            if (auto r = take_char(token.text); !r) {
                return r.error();
            }
        }
        if (i_ >= zone_.size() || zone_[i_] != '"') {
            return make_error(line_error(start_line, "unterminated quoted string"));
        }
        ++i_;  // the closing quote
        return token;
    }

    Result<Token> unquoted() {
        Token token;
        while (i_ < zone_.size()) {
            const char c = zone_[i_];
            if (is_fws(c) || c == ';' || c == '(' || c == ')' || c == '"') {
                break;
            }
            if (auto r = take_char(token.text); !r) {
                return r.error();
            }
        }
        return token;
    }

    // One character, or one escape (\X, \DDD), appended to `out`.
    Result<bool> take_char(std::string& out) {
        if (zone_[i_] != '\\') {
            out += zone_[i_++];
            return true;
        }
        ++i_;
        if (i_ >= zone_.size() || zone_[i_] == '\n') {
            return make_error(line_error(line_, "'\\' at the end of a line"));
        }
        if (i_ + 2 < zone_.size() && is_digit(zone_[i_]) && is_digit(zone_[i_ + 1]) &&
            is_digit(zone_[i_ + 2])) {
            const int value =
                (zone_[i_] - '0') * 100 + (zone_[i_ + 1] - '0') * 10 + (zone_[i_ + 2] - '0');
            if (value > 255) {
                return make_error(line_error(
                    line_, "escape \\" + std::string(zone_.substr(i_, 3)) + " is over \\255"));
            }
            out += static_cast<char>(static_cast<unsigned char>(value));
            i_ += 3;
            return true;
        }
        out += zone_[i_++];
        return true;
    }

    std::string_view zone_;
    std::size_t i_ = 0;
    std::size_t line_ = 1;
    int depth_ = 0;
    std::size_t paren_line_ = 0;
};

bool is_ttl(std::string_view text) {
    if (text.empty() || !is_digit(text.front())) {
        return false;
    }
    return std::all_of(text.begin(), text.end(), [](char c) {
        return is_digit(c) || std::string_view("smhdwSMHDW").find(c) != std::string_view::npos;
    });
}

bool is_class(std::string_view text) {
    const auto u = ascii_upper(text);
    return u == "IN" || u == "CH" || u == "HS" || u == "CS";
}

// Interprets the lexer's entries: directives, owners, TTL/class, type.
class ZoneReader {
  public:
    Result<std::vector<ZoneTxtRecord>> run(const std::vector<Entry>& entries) {
        std::vector<ZoneTxtRecord> out;
        for (const auto& e : entries) {
            if (auto r = entry(e, out); !r) {
                return r.error();
            }
        }
        return out;
    }

  private:
    Result<bool> entry(const Entry& e, std::vector<ZoneTxtRecord>& out) {
        const auto& t = e.tokens;
        if (!e.blank_owner && !t[0].quoted && t[0].text.starts_with('$')) {
            return directive(e);
        }
        std::size_t k = 0;
        if (e.blank_owner) {
            if (!owner_) {
                return make_error(
                    line_error(e.line, "no owner name (the line starts with a blank)"));
            }
        } else {
            auto name = absolute(t[0], e.line);
            if (!name) {
                return name.error();
            }
            owner_ = std::move(name).value();
            k = 1;
        }
        for (int j = 0; j < 2 && k < t.size() && !t[k].quoted; ++j) {
            if (!is_ttl(t[k].text) && !is_class(t[k].text)) {
                break;
            }
            ++k;
        }
        if (k >= t.size() || t[k].quoted) {
            return make_error(line_error(e.line, "no record type after the name"));
        }
        if (ascii_upper(t[k].text) != "TXT") {
            return true;  // another type: not ours to read
        }
        ZoneTxtRecord record{*owner_, "", e.line};
        if (++k == t.size()) {
            return make_error(line_error(e.line, "TXT record without text"));
        }
        for (; k < t.size(); ++k) {
            if (t[k].text.size() > kMaxCharacterString) {
                return make_error(line_error(
                    e.line, "a character-string of " + std::to_string(t[k].text.size()) +
                                " bytes; at most 255 fit (split it into several quoted strings)"));
            }
            record.text += t[k].text;
        }
        out.push_back(std::move(record));
        return true;
    }

    Result<bool> directive(const Entry& e) {
        const auto name = ascii_upper(e.tokens[0].text);
        if (name == "$TTL") {
            return true;
        }
        if (name != "$ORIGIN") {
            return make_error(
                line_error(e.line, e.tokens[0].text + " is not supported (only $ORIGIN and $TTL)"));
        }
        if (e.tokens.size() < 2) {
            return make_error(line_error(e.line, "$ORIGIN without a name"));
        }
        auto name_r = absolute(e.tokens[1], e.line);
        if (!name_r) {
            return name_r.error();
        }
        origin_ = std::move(name_r).value();
        return true;
    }

    [[nodiscard]] Result<std::string> absolute(const Token& token, std::size_t line) const {
        const auto& text = token.text;
        if (text == "@") {
            if (!origin_) {
                return make_error(line_error(line, "'@' without $ORIGIN"));
            }
            return *origin_;
        }
        if (text.ends_with('.') || !origin_ || origin_->empty()) {
            return normalize_dns_name(text);
        }
        return normalize_dns_name(text) + "." + *origin_;
    }

    std::optional<std::string> origin_;
    std::optional<std::string> owner_;
};

}  // namespace

// ---------------------------------------------------------------- names

std::string normalize_dns_name(std::string_view name) {
    return ascii_lower(without_trailing_dot(name));
}

Result<std::string> check_dkim_domain(std::string_view text) {
    if (!valid_labels(without_trailing_dot(text), false)) {
        return make_error("bad domain \"" + std::string(text) +
                          "\": letters, digits and '-' (not at either end of a label), labels "
                          "of 1..63 bytes, 253 in all; IDNs in A-label form (xn--...)");
    }
    return normalize_dns_name(text);
}

Result<std::string> check_dkim_selector(std::string_view text) {
    if (!valid_labels(without_trailing_dot(text), true)) {
        return make_error("bad selector \"" + std::string(text) +
                          "\": letters, digits, '-' and '_' ('-' not at either end of a "
                          "label), labels of 1..63 bytes");
    }
    return std::string(without_trailing_dot(text));
}

std::string dkim_record_name(std::string_view selector, std::string_view domain) {
    return normalize_dns_name(std::string(without_trailing_dot(selector)) + "._domainkey." +
                              std::string(domain));
}

// ---------------------------------------------------------------- key records

std::string_view dkim_key_type(DkimAlgorithm algorithm) {
    return algorithm == DkimAlgorithm::Ed25519Sha256 ? "ed25519" : "rsa";
}

std::string make_dkim_key_record(DkimAlgorithm algorithm, std::string_view p_base64) {
    return "v=DKIM1; k=" + std::string(dkim_key_type(algorithm)) + "; p=" + std::string(p_base64);
}

std::vector<std::string> dkim_key_record_strings(DkimAlgorithm algorithm,
                                                 std::string_view p_base64) {
    std::vector<std::string> out{"v=DKIM1; k=" + std::string(dkim_key_type(algorithm)) + "; "};
    for (auto& piece : split_character_strings("p=" + std::string(p_base64))) {
        out.push_back(std::move(piece));
    }
    return out;
}

Result<DkimKeyRecord> parse_dkim_key_record(std::string_view text) {
    auto tags = parse_tag_list(text);
    if (!tags) {
        return tags.error();
    }
    DkimKeyRecord record;
    bool have_p = false;
    for (std::size_t i = 0; i < tags->size(); ++i) {
        const auto& [name, value] = (*tags)[i];
        if (name == "v") {
            if (i != 0) {
                return make_error("v= must be the first tag");
            }
            if (value != "DKIM1") {
                return make_error("v=" + value + "; a DKIM key record has v=DKIM1");
            }
        } else if (name == "k") {
            if (value.empty()) {
                return make_error("empty k=");
            }
            record.key_type = value;
        } else if (name == "p") {
            std::string p;
            std::copy_if(value.begin(), value.end(), std::back_inserter(p),
                         [](char c) { return !is_fws(c); });
            if (!is_base64(p)) {
                return make_error("p= is not base64");
            }
            record.public_key = std::move(p);
            have_p = true;
        } else if (name == "h") {
            record.hash_algorithms = colon_list(value);
        } else if (name == "s") {
            record.service_types = colon_list(value);
        }
    }
    if (!have_p) {
        return make_error("no p= tag");
    }
    return record;
}

std::string KeyRecordVerdict::to_string() const {
    switch (match) {
        case KeyRecordMatch::Match:
            return "match";
        case KeyRecordMatch::Mismatch:
            return "MISMATCH: " + detail;
        case KeyRecordMatch::Revoked:
            return detail.empty() ? "revoked (empty p=)" : "revoked (empty p=); " + detail;
        case KeyRecordMatch::Invalid:
            break;
    }
    return "record invalid: " + detail;
}

KeyRecordVerdict check_dkim_key_record(std::string_view record_text, DkimAlgorithm algorithm,
                                       std::string_view expected_p) {
    auto parsed = parse_dkim_key_record(record_text);
    if (!parsed) {
        return {KeyRecordMatch::Invalid, parsed.error().message};
    }
    const auto& r = *parsed;
    if (r.public_key.empty()) {
        return {KeyRecordMatch::Revoked, ""};
    }
    const auto want_k = dkim_key_type(algorithm);
    if (r.key_type != want_k) {
        return {KeyRecordMatch::Mismatch, "the record has k=" + r.key_type + ", the key is " +
                                              std::string(to_string(algorithm)) +
                                              " (k=" + std::string(want_k) + ")"};
    }
    const auto& h = r.hash_algorithms;
    if (!h.empty() && std::find(h.begin(), h.end(), "sha256") == h.end()) {
        return {KeyRecordMatch::Mismatch,
                "the record's h=" + join(h, ":") + " does not allow sha256"};
    }
    const auto& s = r.service_types;
    if (!s.empty() && std::find(s.begin(), s.end(), "*") == s.end() &&
        std::find(s.begin(), s.end(), "email") == s.end()) {
        return {KeyRecordMatch::Mismatch,
                "the record's s=" + join(s, ":") + " does not allow email"};
    }
    if (r.public_key != expected_p) {
        return {KeyRecordMatch::Mismatch, "the published p= is another key"};
    }
    return {KeyRecordMatch::Match, ""};
}

KeyRecordVerdict check_dkim_key_records(const std::vector<std::string>& record_texts,
                                        DkimAlgorithm algorithm, std::string_view expected_p) {
    if (record_texts.empty()) {
        return {KeyRecordMatch::Invalid, "no TXT record"};
    }
    std::vector<KeyRecordVerdict> verdicts;
    for (const auto& text : record_texts) {
        verdicts.push_back(check_dkim_key_record(text, algorithm, expected_p));
        if (verdicts.back().match == KeyRecordMatch::Match) {
            return verdicts.back();
        }
    }
    auto chosen = std::find_if(verdicts.begin(), verdicts.end(), [](const KeyRecordVerdict& v) {
        return v.match != KeyRecordMatch::Invalid;
    });
    KeyRecordVerdict out = chosen != verdicts.end() ? *chosen : verdicts.front();
    if (verdicts.size() > 1) {
        const auto note =
            std::to_string(verdicts.size()) + " TXT records at the name, none matches";
        out.detail = out.detail.empty() ? note : out.detail + "; " + note;
    }
    return out;
}

// ---------------------------------------------------------------- zone text

std::vector<std::string> split_character_strings(std::string_view text, std::size_t max) {
    max = std::max<std::size_t>(max, 1);
    std::vector<std::string> out;
    do {
        out.emplace_back(text.substr(0, max));
        text.remove_prefix(std::min(max, text.size()));
    } while (!text.empty());
    return out;
}

std::string format_zone_txt(std::string_view name, const std::vector<std::string>& strings) {
    std::string out(name);
    if (out.empty() || out.back() != '.') {
        out += '.';
    }
    out += " IN TXT ( ";
    for (std::size_t i = 0; i < strings.size(); ++i) {
        if (i > 0) {
            out += "\n    ";
        }
        out += '"';
        for (char c : strings[i]) {
            const auto byte = static_cast<std::uint8_t>(c);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (byte < 0x20 || byte > 0x7e) {
                const std::string digits = std::to_string(byte);
                out += '\\';
                out += std::string(3 - digits.size(), '0') + digits;
            } else {
                out += c;
            }
        }
        out += '"';
    }
    out += " )\n";
    return out;
}

Result<std::vector<ZoneTxtRecord>> parse_zone_txt(std::string_view zone) {
    auto entries = ZoneLexer(zone).run();
    if (!entries) {
        return entries.error();
    }
    return ZoneReader().run(*entries);
}

}  // namespace staffel::core
