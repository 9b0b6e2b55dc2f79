// route.cpp - see route.hpp.
#include "core/route/route.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace staffel::core {
namespace {

constexpr std::size_t kMaxHeaderValue = 998;

void append_clean(std::string& out, std::string_view text) {
    for (char c : text) {
        if (out.size() >= kMaxHeaderValue) {
            return;
        }
        if (c == '\r' || c == '\n' || c == '\0') {
            if (!out.empty() && out.back() != ' ') {
                out += ' ';
            }
            continue;
        }
        out += c;
    }
}

}  // namespace

std::optional<std::string> route_sender(const Route& route, const EnvelopeInput& in) {
    if (in.sender.empty() || route.return_path == ReturnPath::Keep ||
        route.return_path == ReturnPath::Srs || route.bounce_domain.empty()) {
        return std::nullopt;
    }
    std::string local = route.return_local;
    if (route.return_path == ReturnPath::Verp && in.recipients != nullptr &&
        in.recipients->size() == 1) {
        const std::string_view rcpt = in.recipients->front();
        const auto at = rcpt.rfind('@');
        if (at != std::string_view::npos && at > 0) {
            local += '+';
            local += rcpt.substr(0, at);
            local += '=';
            local += rcpt.substr(at + 1);
        }
    }
    return local + "@" + route.bounce_domain;
}

std::optional<std::string> verp_decode(std::string_view envelope_recipient) {
    const auto at = envelope_recipient.rfind('@');
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    const auto local = envelope_recipient.substr(0, at);
    const auto plus = local.find('+');
    if (plus == std::string_view::npos) {
        return std::nullopt;
    }
    const auto encoded = local.substr(plus + 1);
    const auto eq = encoded.rfind('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 >= encoded.size() ||
        encoded.find('@', eq + 1) != std::string_view::npos) {
        return std::nullopt;  // a domain never holds '@'
    }
    return std::string(encoded.substr(0, eq)) + "@" + std::string(encoded.substr(eq + 1));
}

std::string expand_template(std::string_view text, const TemplateInput& in) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size() && out.size() < kMaxHeaderValue) {
        if (text[i] != '{') {
            append_clean(out, text.substr(i, 1));
            ++i;
            continue;
        }
        const auto close = text.find('}', i);
        if (close == std::string_view::npos) {
            append_clean(out, text.substr(i));
            break;
        }
        const auto name = text.substr(i + 1, close - i - 1);
        if (name.starts_with("header:") && in.headers != nullptr) {
            const auto field = name.substr(7);
            for (const auto& f : *in.headers) {
                if (iequals(f.name, field)) {
                    append_clean(out, trim_space(f.value));
                    break;
                }
            }
        } else if (name == "stream") {
            append_clean(out, in.stream);
        } else if (name == "route") {
            append_clean(out, in.route);
        } else if (name == "sender_domain") {
            append_clean(out, domain_of(in.sender));
        } else if (name == "tag") {
            append_clean(out, in.tag);
        }
        i = close + 1;
    }
    return out;
}

Result<bool> check_template(std::string_view text) {
    std::size_t i = 0;
    while ((i = text.find('{', i)) != std::string_view::npos) {
        const auto close = text.find('}', i);
        if (close == std::string_view::npos) {
            return make_error("a \"{\" without its \"}\"");
        }
        const auto name = text.substr(i + 1, close - i - 1);
        if (!(name == "stream" || name == "route" || name == "sender_domain" || name == "tag" ||
              (name.starts_with("header:") && name.size() > 7))) {
            return make_error("unknown placeholder {" + std::string(name) +
                              "}; known: {header:NAME}, {stream}, {route}, {sender_domain}, {tag}");
        }
        i = close + 1;
    }
    if (text.find('\n') != std::string_view::npos || text.find('\r') != std::string_view::npos) {
        return make_error("a line break in a header template");
    }
    return true;
}

const Route* find_route(const std::vector<Route>& routes, std::string_view name) {
    const auto it =
        std::find_if(routes.begin(), routes.end(), [&](const Route& r) { return r.name == name; });
    return it == routes.end() ? nullptr : &*it;
}

}  // namespace staffel::core
