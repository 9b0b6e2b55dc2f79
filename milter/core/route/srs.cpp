// srs.cpp - see srs.hpp.
#include "core/route/srs.hpp"

#include <array>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "core/text.hpp"

namespace staffel::core {
namespace {

constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kSeparators = "=+-";
constexpr std::int64_t kSecondsPerDay = 86400;
constexpr int kTimeSlots = 1024;  // two base32 characters
constexpr std::size_t kHashChars = 4;
constexpr std::size_t kDigestBytes = 20;
constexpr std::size_t kMaxAddress = 254;
constexpr std::size_t kMaxLocalPart = 64;
constexpr std::size_t kMaxDomain = 255;

enum class Tag { None, Srs0, Srs1 };

char upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool is_separator(char c) {
    return kSeparators.find(c) != std::string_view::npos;
}

// "SRS0" or "SRS1" in any case, then one of the separators.
Tag tag_of(std::string_view local) {
    if (local.size() < 5 || !iequals(local.substr(0, 3), "SRS") || !is_separator(local[4])) {
        return Tag::None;
    }
    if (local[3] == '0') {
        return Tag::Srs0;
    }
    return local[3] == '1' ? Tag::Srs1 : Tag::None;
}

// RFC 5322 atext, the dot, and UTF-8 bytes (RFC 6531): what a dot-atom
// local part can hold, so the SRS local part needs no quoting.
bool local_char_ok(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-/=?^_`{|}~.").find(c) != std::string_view::npos;
}

bool domain_char_ok(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

std::optional<std::string> domain_problem(std::string_view domain) {
    if (domain.empty()) {
        return "empty domain";
    }
    if (domain.size() > kMaxDomain) {
        return "domain too long (" + std::to_string(domain.size()) + " octets, max 255)";
    }
    for (char c : domain) {
        if (!domain_char_ok(c)) {
            return "domain has a character other than letters, digits, '-', '.', '_'";
        }
    }
    return std::nullopt;
}

std::optional<std::string> local_problem(std::string_view local) {
    if (local.empty()) {
        return "empty local part";
    }
    for (char c : local) {
        if (!local_char_ok(c)) {
            return "local part has a character that cannot stand unquoted in an SRS address";
        }
    }
    return std::nullopt;
}

int day_slot(std::int64_t now) {
    std::int64_t day = now / kSecondsPerDay;
    if (now % kSecondsPerDay < 0) {
        --day;  // floor for times before 1970
    }
    const auto slot = static_cast<int>(day % kTimeSlots);
    return slot < 0 ? slot + kTimeSlots : slot;
}

std::string encode_timestamp(std::int64_t now) {
    const int slot = day_slot(now);
    return {kBase32[static_cast<std::size_t>(slot >> 5)],
            kBase32[static_cast<std::size_t>(slot & 31)]};
}

// The day slot of a two-character timestamp, or an error text.
Result<int> decode_timestamp(std::string_view stamp) {
    if (stamp.size() != 2) {
        return make_error("timestamp is not 2 characters");
    }
    int slot = 0;
    for (char c : stamp) {
        const auto pos = kBase32.find(upper(c));
        if (pos == std::string_view::npos) {
            return make_error("timestamp has a character outside base32 (A-Z, 2-7)");
        }
        slot = (slot << 5) | static_cast<int>(pos);
    }
    return slot;
}

// The four hash characters for parts under secret.
Result<std::string> make_hash(std::string_view secret,
                              std::initializer_list<std::string_view> parts, const HmacSha1& hmac) {
    std::string message;
    for (auto p : parts) {
        for (char c : p) {
            message.push_back(ascii_lower(c));
        }
    }
    const std::string digest = hmac(secret, message);
    if (digest.size() != kDigestBytes) {
        return make_error("HMAC-SHA1 failed (" + std::to_string(digest.size()) +
                          " bytes, want 20)");
    }
    std::array<unsigned, 3> b{};
    for (std::size_t i = 0; i < b.size(); ++i) {
        b[i] = static_cast<unsigned char>(digest[i]);
    }
    // The first four base64 characters cover the first three bytes.
    return std::string{kBase64[b[0] >> 2], kBase64[((b[0] & 3U) << 4) | (b[1] >> 4)],
                       kBase64[((b[1] & 15U) << 2) | (b[2] >> 6)], kBase64[b[2] & 63U]};
}

// Whether hash (at least four characters) matches parts under any secret.
Result<bool> hash_matches(const SrsConfig& config, std::string_view hash,
                          std::initializer_list<std::string_view> parts, const HmacSha1& hmac) {
    for (const auto& secret : config.secrets) {
        auto want = make_hash(secret, parts, hmac);
        if (!want) {
            return want.error();
        }
        if (iequals(hash.substr(0, kHashChars), *want)) {
            return true;
        }
    }
    return false;
}

// Cuts s at the first '=': the part before goes to field, s keeps the rest.
// False if there is no '='.
bool take_field(std::string_view& s, std::string_view& field) {
    const auto eq = s.find('=');
    if (eq == std::string_view::npos) {
        return false;
    }
    field = s.substr(0, eq);
    s.remove_prefix(eq + 1);
    return true;
}

std::string tagged(std::string_view tag, const SrsConfig& config, std::string_view hash) {
    std::string out(tag);
    out.push_back(config.separator);
    out.append(hash);
    return out;
}

Result<std::string> bounded(std::string out) {
    if (out.size() > kMaxAddress) {
        return make_error("rewritten address too long (" + std::to_string(out.size()) +
                          " octets, max 254)");
    }
    return out;
}

Result<std::string> forward_plain(const SrsConfig& config, std::string_view local,
                                  std::string_view domain, std::int64_t now, const HmacSha1& hmac) {
    if (local.size() > kMaxLocalPart) {
        return make_error("local part too long (" + std::to_string(local.size()) +
                          " octets, max 64)");
    }
    const std::string stamp = encode_timestamp(now);
    auto hash = make_hash(config.secrets.front(), {stamp, domain, local}, hmac);
    if (!hash) {
        return hash.error();
    }
    std::string out = tagged("SRS0", config, *hash);
    out.append("=").append(stamp).append("=").append(domain).append("=").append(local);
    return bounded(out.append("@").append(config.domain));
}

// host and rest as they will stand in "SRS1" SEP HASH "=" host "=" rest.
Result<std::string> forward_srs1(const SrsConfig& config, std::string_view host,
                                 std::string_view rest, const HmacSha1& hmac) {
    auto hash = make_hash(config.secrets.front(), {host, rest}, hmac);
    if (!hash) {
        return hash.error();
    }
    std::string out = tagged("SRS1", config, *hash);
    out.append("=").append(host).append("=").append(rest);
    return bounded(out.append("@").append(config.domain));
}

struct Srs1Fields {
    std::string_view hash;
    std::string_view host;
    std::string_view rest;  // the SRS0 part, from its separator on
};

// Splits "SRS1" SEP HASH "=" HOST "=" REST. The hash must have min_hash
// characters: four to be verified, one to be passed on (another forwarder's,
// as postsrsd does).
Result<Srs1Fields> parse_srs1(std::string_view local, std::size_t min_hash) {
    std::string_view s = local.substr(5);
    Srs1Fields f;
    if (!take_field(s, f.hash)) {
        return make_error("malformed SRS1 address: nothing after the hash");
    }
    if (!take_field(s, f.host)) {
        return make_error("malformed SRS1 address: nothing after the host");
    }
    if (f.hash.empty()) {
        return make_error("malformed SRS1 address: empty hash");
    }
    if (f.hash.size() < min_hash) {
        return make_error("malformed SRS1 address: hash shorter than 4 characters");
    }
    if (f.host.empty()) {
        return make_error("malformed SRS1 address: empty host");
    }
    // The rest may be empty: postsrsd makes "SRS1=HASH=HOST=@..." of the
    // sender "SRS0@HOST", and decodes it back to that.
    f.rest = s;
    return f;
}

// An SRS1 local part of another domain: keep its host and rest, sign again.
Result<std::string> forward_resign(const SrsConfig& config, std::string_view local,
                                   const HmacSha1& hmac) {
    auto f = parse_srs1(local, 1);
    if (!f) {
        return f.error();
    }
    return forward_srs1(config, f->host, f->rest, hmac);
}

Result<std::string> reverse_srs0(const SrsConfig& config, std::string_view local, std::int64_t now,
                                 const HmacSha1& hmac) {
    std::string_view s = local.substr(5);
    std::string_view hash;
    std::string_view stamp;
    std::string_view host;
    if (!take_field(s, hash)) {
        return make_error("malformed SRS0 address: nothing after the hash");
    }
    if (!take_field(s, stamp)) {
        return make_error("malformed SRS0 address: nothing after the timestamp");
    }
    if (!take_field(s, host)) {
        return make_error("malformed SRS0 address: no local part after the domain");
    }
    if (hash.size() < kHashChars) {
        return make_error("malformed SRS0 address: hash shorter than 4 characters");
    }
    auto then = decode_timestamp(stamp);
    if (!then) {
        return make_error("malformed SRS0 address: " + then.error().message);
    }
    if (host.empty() || s.empty()) {
        return make_error(std::string("malformed SRS0 address: empty ") +
                          (host.empty() ? "domain" : "local part"));
    }
    auto match = hash_matches(config, hash, {stamp, host, s}, hmac);
    if (!match) {
        return match.error();
    }
    if (!*match) {
        return make_error("hash does not match (tampered or wrong secret)");
    }
    const int age = (day_slot(now) - *then + kTimeSlots) % kTimeSlots;
    if (age > config.max_age_days) {
        return make_error("timestamp expired (" + std::to_string(age) + " days old, max " +
                          std::to_string(config.max_age_days) + ")");
    }
    return std::string(s).append("@").append(host);
}

Result<std::string> reverse_srs1(const SrsConfig& config, std::string_view local,
                                 const HmacSha1& hmac) {
    auto f = parse_srs1(local, kHashChars);
    if (!f) {
        return f.error();
    }
    auto match = hash_matches(config, f->hash, {f->host, f->rest}, hmac);
    if (!match) {
        return match.error();
    }
    if (!*match) {
        return make_error("hash does not match (tampered or wrong secret)");
    }
    return std::string("SRS0").append(f->rest).append("@").append(f->host);
}

Result<bool> check_length(std::string_view address) {
    if (address.size() > kMaxAddress) {
        return make_error("address too long (" + std::to_string(address.size()) +
                          " octets, max 254)");
    }
    return true;
}

}  // namespace

Result<bool> check_srs_config(const SrsConfig& config) {
    if (auto p = domain_problem(config.domain)) {
        return make_error("SRS domain: " + *p);
    }
    if (config.secrets.empty()) {
        return make_error("SRS secrets: none given; at least one is needed");
    }
    for (std::size_t i = 0; i < config.secrets.size(); ++i) {
        if (config.secrets[i].empty()) {
            return make_error("SRS secrets: secret " + std::to_string(i + 1) + " is empty");
        }
    }
    if (config.max_age_days < kSrsMaxAgeMin || config.max_age_days > kSrsMaxAgeMax) {
        return make_error("SRS max age: " + std::to_string(config.max_age_days) +
                          " days; want 1..1023");
    }
    if (!is_separator(config.separator)) {
        return make_error("SRS separator: want one of '=', '+', '-'");
    }
    return true;
}

bool is_srs_address(std::string_view address) {
    return tag_of(address.substr(0, address.find('@'))) != Tag::None;
}

Result<std::string> srs_forward(const SrsConfig& config, std::string_view address, std::int64_t now,
                                const HmacSha1& hmac) {
    if (auto ok = check_srs_config(config); !ok) {
        return ok.error();
    }
    if (auto ok = check_length(address); !ok) {
        return ok.error();
    }
    const auto at = address.rfind('@');
    if (at == std::string_view::npos) {
        return make_error("address has no '@'");
    }
    const std::string_view local = address.substr(0, at);
    const std::string_view domain = address.substr(at + 1);
    if (auto p = domain_problem(domain)) {
        return make_error("address: " + *p);
    }
    if (iequals(domain, config.domain)) {
        return std::string(address);
    }
    if (auto p = local_problem(local)) {
        return make_error("address: " + *p);
    }
    switch (tag_of(local)) {
        case Tag::Srs0:
            return forward_srs1(config, domain, local.substr(4), hmac);
        case Tag::Srs1:
            return forward_resign(config, local, hmac);
        case Tag::None:
            break;
    }
    return forward_plain(config, local, domain, now, hmac);
}

Result<std::string> srs_reverse(const SrsConfig& config, std::string_view address, std::int64_t now,
                                const HmacSha1& hmac) {
    if (auto ok = check_srs_config(config); !ok) {
        return ok.error();
    }
    if (auto ok = check_length(address); !ok) {
        return ok.error();
    }
    const std::string_view local = address.substr(0, address.find('@'));
    switch (tag_of(local)) {
        case Tag::Srs0:
            return reverse_srs0(config, local, now, hmac);
        case Tag::Srs1:
            return reverse_srs1(config, local, hmac);
        case Tag::None:
            break;
    }
    return make_error("not an SRS address");
}

}  // namespace staffel::core
