// suppress.cpp - see suppress.hpp.
#include "core/suppress/suppress.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "core/text.hpp"

namespace staffel::core {
namespace {

constexpr std::size_t kMaxLocalPart = 64;
constexpr std::size_t kMaxDomain = 253;
constexpr std::size_t kMaxSource = 200;

constexpr std::array<std::pair<SuppressReason, std::string_view>, 5> kReasons{{
    {SuppressReason::HardBounce, "hard_bounce"},
    {SuppressReason::Complaint, "complaint"},
    {SuppressReason::Unsubscribe, "unsubscribe"},
    {SuppressReason::Manual, "manual"},
    {SuppressReason::Invalid, "invalid"},
}};

bool has_high_byte(std::string_view s) {
    return std::any_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// LDH labels after A-label conversion; underscores are tolerated (seen in
// the wild), an address literal "[...]" is not an entry we keep.
Result<std::string> check_ascii_domain(std::string_view d) {
    if (d.empty()) {
        return make_error("the domain is empty");
    }
    if (d.back() == '.') {
        d.remove_suffix(1);
    }
    if (d.size() > kMaxDomain) {
        return make_error("the domain is longer than 253 bytes");
    }
    std::string out;
    out.reserve(d.size());
    std::size_t label = 0;
    for (char c : d) {
        if (c == '.') {
            if (label == 0) {
                return make_error("the domain has an empty label");
            }
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_') {
            if (++label > 63) {
                return make_error("a domain label is longer than 63 bytes");
            }
        } else {
            return make_error("the domain contains a character that is not allowed there");
        }
        out += ascii_lower(c);
    }
    if (label == 0) {
        return make_error("the domain has an empty label");
    }
    return out;
}

std::int64_t parse_int(std::string_view s, bool& ok) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    ok = ec == std::errc() && p == s.data() + s.size() && !s.empty() && v >= 0;
    return v;
}

}  // namespace

std::string_view reason_name(SuppressReason r) {
    for (const auto& [reason, name] : kReasons) {
        if (reason == r) {
            return name;
        }
    }
    return "manual";
}

std::optional<SuppressReason> parse_reason(std::string_view name) {
    for (const auto& [reason, n] : kReasons) {
        if (n == name) {
            return reason;
        }
    }
    return std::nullopt;
}

bool SuppressionEntry::blocks(std::string_view stream) const {
    return streams.empty() || std::find(streams.begin(), streams.end(), stream) != streams.end();
}

std::vector<std::string> default_streams(SuppressReason r,
                                         const std::vector<std::string>& unsubscribe_streams) {
    return r == SuppressReason::Unsubscribe ? unsubscribe_streams : std::vector<std::string>{};
}

SuppressReply reply_for(SuppressReason r) {
    if (r == SuppressReason::HardBounce || r == SuppressReason::Invalid) {
        return {"550", "5.1.1"};
    }
    return {"550", "5.7.1"};
}

Result<std::string> normalise_domain(std::string_view domain, const DomainToAscii& idna) {
    domain = trim_blanks(domain);
    if (domain.size() > 4 * kMaxDomain) {
        return make_error("the domain is longer than 253 bytes");
    }
    if (has_high_byte(domain)) {
        if (!idna) {
            return make_error("the domain is not ASCII and no IDNA converter is available");
        }
        auto ascii = idna(domain);
        if (!ascii) {
            return make_error("the domain is not a valid internationalised domain name (" +
                              ascii.error().message + ")");
        }
        return check_ascii_domain(*ascii);
    }
    return check_ascii_domain(domain);
}

Result<std::string> normalise_address(std::string_view address, const AddressRules& rules,
                                      const DomainToAscii& idna) {
    address = trim_blanks(address);
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
        address = trim_blanks(address.substr(1, address.size() - 2));
    }
    if (address.size() > kMaxLocalPart + 1 + 4 * kMaxDomain) {
        return make_error("the address is too long");
    }
    const auto at = address.rfind('@');
    if (at == std::string_view::npos) {
        return make_error("the address has no \"@\"");
    }
    const auto local = address.substr(0, at);
    if (local.empty()) {
        return make_error("the local part is empty");
    }
    if (local.size() > kMaxLocalPart) {
        return make_error("the local part is longer than 64 bytes");
    }
    if (local.front() == '"') {
        return make_error("quoted local parts are not supported");
    }
    std::string out;
    out.reserve(address.size());
    for (char c : local) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '|' || c == '@' || c == '<' || c == '>' || c == '"' ||
            c == '(' || c == ')' || c == ',' || c == ';' || c == '\\' || c == '[' || c == ']') {
            return make_error("the local part contains a character that is not allowed there");
        }
        out += rules.fold_local_part ? ascii_lower(c) : c;
    }
    auto domain = normalise_domain(address.substr(at + 1), idna);
    if (!domain) {
        return domain.error();
    }
    out += '@';
    out += *domain;
    return out;
}

SuppressionKeys::SuppressionKeys(std::string prefix, std::string secret, const Sha256Factory* sha)
    : prefix_(std::move(prefix)), secret_(std::move(secret)), sha_(sha) {
    if (sha_ == nullptr) {
        secret_.clear();
    }
}

std::string SuppressionKeys::address_part(std::string_view normalised) const {
    if (!hashed()) {
        return std::string(normalised);
    }
    return "h:" + hmac_sha256_hex(*sha_, secret_, normalised);
}

std::string SuppressionKeys::entry_key(std::string_view scope, std::string_view normalised) const {
    std::string key = prefix_ + "s:";
    key += scope.empty() ? std::string_view("*") : scope;
    key += ':';
    key += address_part(normalised);
    return key;
}

std::string SuppressionKeys::soft_bounce_key(std::string_view normalised) const {
    return prefix_ + "sb:" + address_part(normalised);
}

std::string SuppressionKeys::scan_pattern() const {
    std::string p;
    for (char c : prefix_) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
            p += '\\';
        }
        p += c;
    }
    return p + "s:*";
}

std::optional<std::pair<std::string, std::string>> SuppressionKeys::parse_key(
    std::string_view key) const {
    const std::string head = prefix_ + "s:";
    if (key.substr(0, head.size()) != head) {
        return std::nullopt;
    }
    key.remove_prefix(head.size());
    const auto colon = key.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 >= key.size()) {
        return std::nullopt;
    }
    std::string scope(key.substr(0, colon));
    if (scope == "*") {
        scope.clear();
    }
    return std::make_pair(std::move(scope), std::string(key.substr(colon + 1)));
}

std::string clean_source(std::string_view source) {
    std::string out;
    for (char c : source) {
        if (out.size() >= kMaxSource) {
            break;
        }
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f && c != '|') {
            out += c;
        }
    }
    return out;
}

std::string encode_entry_value(const SuppressionEntry& e) {
    std::string v = "1|";
    v += reason_name(e.reason);
    v += '|';
    if (e.streams.empty()) {
        v += '*';
    } else {
        for (std::size_t i = 0; i < e.streams.size(); ++i) {
            v += i == 0 ? "" : ",";
            v += e.streams[i];
        }
    }
    v += '|' + std::to_string(e.added_at) + '|' + std::to_string(e.expires_at) + '|';
    v += clean_source(e.source);
    return v;
}

Result<SuppressionEntry> decode_entry_value(std::string_view value) {
    std::array<std::string_view, 5> f;
    std::size_t pos = 0;
    for (auto& field : f) {
        const auto bar = value.find('|', pos);
        if (bar == std::string_view::npos) {
            return make_error("a suppression entry value has too few fields");
        }
        field = value.substr(pos, bar - pos);
        pos = bar + 1;
    }
    if (f[0] != "1") {
        return make_error("a suppression entry value has an unknown format version");
    }
    SuppressionEntry e;
    auto reason = parse_reason(f[1]);
    if (!reason) {
        return make_error("a suppression entry value has an unknown reason");
    }
    e.reason = *reason;
    if (f[2].empty()) {
        return make_error("a suppression entry value has no streams");
    }
    if (f[2] != "*") {
        std::size_t start = 0;
        while (start <= f[2].size()) {
            const auto comma = std::min(f[2].find(',', start), f[2].size());
            const auto name = f[2].substr(start, comma - start);
            if (name.empty()) {
                return make_error("a suppression entry value has an empty stream name");
            }
            e.streams.emplace_back(name);
            start = comma + 1;
        }
    }
    bool ok1 = false;
    bool ok2 = false;
    e.added_at = parse_int(f[3], ok1);
    e.expires_at = parse_int(f[4], ok2);
    if (!ok1 || !ok2) {
        return make_error("a suppression entry value has a malformed time");
    }
    e.source = clean_source(value.substr(pos));
    return e;
}

std::string hmac_sha256_hex(const Sha256Factory& sha, std::string_view key,
                            std::string_view message) {
    constexpr std::size_t kBlock = 64;
    std::string k(key);
    if (k.size() > kBlock) {
        auto h = sha.make();
        h->update(k);
        auto d = h->finish();
        k.assign(reinterpret_cast<const char*>(d->data()), d->size());
    }
    k.resize(kBlock, '\0');
    std::string ipad(kBlock, '\0');
    std::string opad(kBlock, '\0');
    for (std::size_t i = 0; i < kBlock; ++i) {
        ipad[i] = static_cast<char>(k[i] ^ 0x36);
        opad[i] = static_cast<char>(k[i] ^ 0x5c);
    }
    auto inner = sha.make();
    inner->update(ipad);
    inner->update(message);
    auto inner_digest = inner->finish();
    auto outer = sha.make();
    outer->update(opad);
    outer->update(std::string_view(reinterpret_cast<const char*>(inner_digest->data()),
                                   inner_digest->size()));
    auto digest = outer->finish();
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (auto b : *digest) {
        const auto u = static_cast<unsigned char>(b);
        hex += kHex[u >> 4];
        hex += kHex[u & 15];
    }
    return hex;
}

}  // namespace staffel::core
