// headers.cpp - see headers.hpp.
#include "core/headers.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace staffel::core {
namespace {

// The domain of one addr-spec ("a@b", "\"q@x\"@b"), lower-cased and without
// a trailing dot, or "" if it has none a DKIM key could be found for.
std::string address_domain(std::string_view addr) {
    addr = trim_space(addr);
    const auto at = addr.rfind('@');
    if (at == std::string_view::npos || at == 0) {
        return {};
    }
    std::string_view domain = trim_space(addr.substr(at + 1));
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);
    }
    if (domain.empty() || domain.size() > 253) {
        return {};
    }
    std::string out;
    for (char c : domain) {
        const auto u = static_cast<unsigned char>(c);
        // Letters, digits, '-', '.', and UTF-8 (internationalised domains);
        // no domain literals, spaces or control bytes.
        if (!(ascii_alnum(c) || c == '-' || c == '.' || c == '_' || u >= 0x80)) {
            return {};
        }
        out += ascii_lower(c);
    }
    if (out.find("..") != std::string::npos || out.front() == '.' || out.back() == '.') {
        return {};
    }
    return out;
}

// The state of parse_address_list between two bytes of the value.
class AddressListParser {
  public:
    // false: the value is malformed.
    bool feed(std::string_view value) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            const char c = value[i];
            if (quoted_) {
                if (c == '\\' && i + 1 < value.size()) {
                    text() += value.substr(i, 2);  // quoted-pair, kept as written
                    ++i;
                } else {
                    quoted_ = c != '"';
                    text() += c;
                }
                continue;
            }
            if (comment_ > 0) {
                if (c == '\\') {
                    ++i;  // quoted-pair inside a comment
                } else if (c == '(' || c == ')') {
                    comment_ += c == '(' ? 1 : -1;
                }
                continue;
            }
            if (!special(c)) {
                return false;
            }
        }
        if (quoted_ || comment_ > 0 || in_angle_) {
            return false;
        }
        flush();
        return true;
    }

    std::vector<std::string> take() { return std::move(out_); }

  private:
    std::string& text() { return in_angle_ ? angle_ : current_; }

    // One byte outside quotes and comments; false: malformed.
    bool special(char c) {
        switch (c) {
            case '"':
                quoted_ = true;
                text() += c;
                return true;
            case '(':
                comment_ = 1;
                return true;
            case ')':
                return false;
            case '<':  // the last <...> of a mailbox is its address
                in_angle_ = true;
                has_angle_ = true;
                angle_.clear();
                return true;
            case '>':
                if (!in_angle_) {
                    current_ += c;  // stray: makes the element unparsable
                }
                in_angle_ = false;
                return true;
            case ':':
                if (in_angle_) {
                    angle_ += c;  // an obsolete route, cut in flush()
                    return true;
                }
                // "group: a@x, b@y;": the display name is dropped. A bare
                // '@' in it is no display name but a broken address.
                if (bare_at_) {
                    return false;
                }
                current_.clear();
                return true;
            case ',':
            case ';':
                if (in_angle_) {
                    angle_ += c;
                } else {
                    flush();
                }
                return true;
            default:
                bare_at_ = bare_at_ || (c == '@' && !in_angle_);
                text() += c;
                return true;
        }
    }

    void flush() {
        std::string_view a = trim_space(has_angle_ ? angle_ : current_);
        if (has_angle_) {
            // An obsolete route "<@relay:a@b>" ends at the last ':'.
            if (const auto colon = a.rfind(':'); colon != std::string_view::npos) {
                a = trim_space(a.substr(colon + 1));
            }
        }
        if (!a.empty() && a.find('@') != std::string_view::npos) {
            out_.emplace_back(a);
        }
        current_.clear();
        angle_.clear();
        has_angle_ = false;
        bare_at_ = false;
    }

    std::vector<std::string> out_;
    std::string current_;  // outside <...>: a display name or a bare addr-spec
    std::string angle_;    // inside the mailbox's last <...>
    bool in_angle_ = false;
    bool has_angle_ = false;
    bool bare_at_ = false;  // an unquoted '@' outside <...> since the last element
    bool quoted_ = false;
    int comment_ = 0;  // nesting depth
};

}  // namespace

bool HeaderCollector::add(std::string_view name, std::string_view value) {
    if (overflowed_) {
        return false;
    }
    const std::size_t size = name.size() + value.size() + 3;  // ":" and CRLF
    if (fields_.size() >= max_fields_ || bytes_ + size > max_bytes_) {
        overflowed_ = true;
        return false;
    }
    bytes_ += size;
    fields_.push_back({std::string(name), std::string(value)});
    return true;
}

std::string_view to_string(AuthorProblem problem) {
    switch (problem) {
        case AuthorProblem::NoFrom:
            return "no-from";
        case AuthorProblem::SeveralFrom:
            return "several-from";
        case AuthorProblem::Unparsable:
            return "unparsable-from";
        case AuthorProblem::SeveralDomains:
            return "from-several-domains";
    }
    return "no-from";
}

std::optional<std::vector<std::string>> parse_address_list(std::string_view value) {
    AddressListParser parser;
    if (!parser.feed(value)) {
        return std::nullopt;
    }
    return parser.take();
}

AuthorDomain mailbox_list_domain(std::string_view value) {
    AuthorDomain result;
    result.problem = AuthorProblem::Unparsable;
    const auto mailboxes = parse_address_list(value);
    if (!mailboxes || mailboxes->empty()) {
        return result;
    }
    std::string domain;
    for (const auto& mailbox : *mailboxes) {
        auto d = address_domain(mailbox);
        if (d.empty()) {
            return result;
        }
        if (domain.empty()) {
            domain = std::move(d);
        } else if (d != domain) {
            result.problem = AuthorProblem::SeveralDomains;
            return result;
        }
    }
    result.ok = true;
    result.domain = std::move(domain);
    return result;
}

AuthorDomain author_domain(const std::vector<HeaderField>& fields) {
    const HeaderField* from = nullptr;
    for (const auto& f : fields) {
        if (iequals(trim_space(f.name), "from")) {
            if (from != nullptr) {
                return {false, {}, AuthorProblem::SeveralFrom};
            }
            from = &f;
        }
    }
    if (from == nullptr) {
        return {false, {}, AuthorProblem::NoFrom};
    }
    return mailbox_list_domain(from->value);
}

}  // namespace staffel::core
