// headers.cpp - see headers.hpp.
#include "core/headers.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace staffel::core {
namespace {

// Removes comments "(...)" (nested, with quoted-pairs) and reduces quoted
// strings to a placeholder, so that '<', '@', ',' and ':' inside them do
// not count. Returns false on unbalanced input.
bool strip_comments_and_quotes(std::string_view in, std::string& out) {
    int depth = 0;
    bool quoted = false;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '\\' && (quoted || depth > 0)) {
            ++i;  // quoted-pair: skip the next byte
            if (quoted && i < in.size()) {
                out += 'x';
            }
            continue;
        }
        if (quoted) {
            if (c == '"') {
                quoted = false;
                out += '"';
            } else {
                out += (c == '@' || c == '<' || c == '>' || c == ',' || c == ':' || c == ';') ? 'x'
                                                                                              : c;
            }
            continue;
        }
        if (c == '(') {
            ++depth;
            continue;
        }
        if (depth > 0) {
            if (c == ')') {
                --depth;
            }
            continue;
        }
        if (c == ')') {
            return false;
        }
        if (c == '"') {
            quoted = true;
        }
        out += c;
    }
    return depth == 0 && !quoted;
}

// The domain of one mailbox ("Name <a@b>" or "a@b"), or "" if none.
std::string domain_of_mailbox(std::string_view mailbox) {
    std::string_view addr = mailbox;
    if (const auto open = mailbox.rfind('<'); open != std::string_view::npos) {
        const auto close = mailbox.find('>', open);
        if (close == std::string_view::npos) {
            return {};
        }
        addr = mailbox.substr(open + 1, close - open - 1);
        // An obsolete route "<@relay:a@b>" ends at the last ':'.
        if (const auto colon = addr.rfind(':'); colon != std::string_view::npos) {
            addr = addr.substr(colon + 1);
        }
    }
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
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || u >= 0x80)) {
            return {};
        }
        out += ascii_lower(c);
    }
    if (out.find("..") != std::string::npos || out.front() == '.') {
        return {};
    }
    return out;
}

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

AuthorDomain mailbox_list_domain(std::string_view value) {
    AuthorDomain result;
    result.problem = AuthorProblem::Unparsable;
    std::string text;
    text.reserve(value.size());
    if (!strip_comments_and_quotes(value, text)) {
        return result;
    }
    // Groups ("Team: a@x, b@x;") contribute their members.
    std::string flat;
    for (char c : text) {
        flat += (c == ':' || c == ';') ? ',' : c;
    }
    // A display name before ':' ends up as its own "mailbox" without '@';
    // route colons only occur inside <...>, which is cut out first.
    std::string domain;
    std::size_t start = 0;
    std::size_t mailboxes = 0;
    int angle = 0;
    for (std::size_t i = 0; i <= flat.size(); ++i) {
        if (i < flat.size()) {
            if (flat[i] == '<') {
                ++angle;
            } else if (flat[i] == '>') {
                --angle;
            }
            if (flat[i] != ',' || angle > 0) {
                continue;
            }
        }
        const auto part = trim_space(std::string_view(flat).substr(start, i - start));
        start = i + 1;
        if (part.empty() || part.find('@') == std::string_view::npos) {
            continue;  // empty list element or a group's display name
        }
        auto d = domain_of_mailbox(part);
        if (d.empty()) {
            return result;
        }
        ++mailboxes;
        if (domain.empty()) {
            domain = std::move(d);
        } else if (d != domain) {
            result.problem = AuthorProblem::SeveralDomains;
            return result;
        }
    }
    if (mailboxes == 0) {
        return result;
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
