// tz.cpp - see tz.hpp.
//
// Layout: civil-calendar arithmetic (the era / day-of-era method Howard
// Hinnant describes in "chrono-Compatible Low-Level Date Algorithms", here
// on 64-bit days and with months that carry), the POSIX TZ string of the
// TZif footer (parse, evaluate), the TZif reader, and the ZoneRules queries
// built on them.
//
// Time range: instants are clamped to kTimeLimit (about +-2e9 years) before
// any arithmetic, so no input makes an int64 overflow or an int year wrap.
#include "core/tz.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

namespace staffel::core {
namespace {

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::int64_t kDaysPer400Years = 146097;
// 5e6 eras of 400 years: years stay within +-2,000,002,000, inside int.
constexpr std::int64_t kMaxDays = kDaysPer400Years * 5'000'000;
// Instants a few years inside kMaxDays, so neighbouring years stay valid.
constexpr std::int64_t kTimeLimit = (kMaxDays - std::int64_t{4 * 366}) * kSecondsPerDay;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) {
        --q;
    }
    return q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
    return a - floor_div(a, b) * b;
}

std::int64_t clamp_time(std::int64_t t) {
    return std::clamp(t, -kTimeLimit, kTimeLimit);
}

// days_from_civil on 64-bit fields; month carries into the year, day is linear.
std::int64_t days_from_ymd(std::int64_t year, std::int64_t month, std::int64_t day) {
    std::int64_t y = year + floor_div(month - 1, 12);
    const std::int64_t m = floor_mod(month - 1, 12) + 1;
    if (m <= 2) {
        --y;
    }
    const std::int64_t era = floor_div(y, 400);
    const std::int64_t yoe = y - era * 400;                 // [0, 399]
    const std::int64_t mp = (m + 9) % 12;                   // March = 0
    const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;  // day carries linearly
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * kDaysPer400Years + doe - 719468;  // 719468: 0000-03-01 to 1970-01-01
}

bool is_leap(std::int64_t year) {
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

}  // namespace

std::int64_t days_from_civil(int year, int month, int day) {
    return days_from_ymd(year, month, day);
}

CivilTime civil_from_days(std::int64_t days) {
    const std::int64_t z = std::clamp(days, -kMaxDays, kMaxDays) + 719468;
    const std::int64_t era = floor_div(z, kDaysPer400Years);
    const std::int64_t doe = z - era * kDaysPer400Years;  // [0, 146096]
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // [0, 365]
    const std::int64_t mp = (5 * doy + 2) / 153;                       // March = 0
    const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    CivilTime out;
    out.year = static_cast<int>(year);
    out.month = static_cast<int>(month);
    out.day = static_cast<int>(day);
    return out;
}

int weekday_from_days(std::int64_t days) {
    return static_cast<int>(floor_mod(days + 3, 7));  // 1970-01-01 was a Thursday
}

namespace detail {

struct LocalType {
    std::int32_t utoff = 0;  // seconds east of UTC
    bool is_dst = false;
    std::string abbreviation;
};

// One transition date of a POSIX TZ rule: "Jn", "n" or "Mm.w.d", plus "/time".
struct DateRule {
    enum class Kind : std::uint8_t { julian_no_leap, zero_based, month_week_day };
    Kind kind = Kind::month_week_day;
    int number = 0;            // Jn: 1-365; n: 0-365
    int month = 1;             // Mm.w.d: 1-12
    int week = 1;              // 1-5, 5 = last
    int weekday = 0;           // 0 = Sunday
    std::int32_t time = 7200;  // local seconds after midnight; -167h..167h
};

// A POSIX TZ string as RFC 8536 section 3.3 allows it.
struct PosixTz {
    LocalType std_type;
    bool has_dst = false;
    LocalType dst_type;
    DateRule start;  // into DST, given in standard time
    DateRule end;    // out of DST, given in daylight time
};

struct ZoneData {
    std::vector<std::int64_t> times;    // ascending transition instants
    std::vector<std::uint8_t> type_of;  // the type each transition switches to
    std::vector<LocalType> types;       // never empty; types[0] before times[0]
    std::optional<PosixTz> footer;      // after times.back(), or always if no times
    std::int32_t min_utoff = 0;
    std::int32_t max_utoff = 0;

    [[nodiscard]] const LocalType& type_at(std::int64_t t) const;
    // The first instant after t at which the type may change, if any.
    [[nodiscard]] std::optional<std::int64_t> next_change_after(std::int64_t t) const;
};

}  // namespace detail

namespace {

using detail::DateRule;
using detail::LocalType;
using detail::PosixTz;
using detail::ZoneData;

// ---- POSIX TZ strings --------------------------------------------------

// Day (since the epoch) on which `rule` fires in `year`.
std::int64_t rule_day(const DateRule& rule, std::int64_t year) {
    const std::int64_t jan1 = days_from_ymd(year, 1, 1);
    switch (rule.kind) {
        case DateRule::Kind::julian_no_leap:
            return jan1 + rule.number - 1 + (is_leap(year) && rule.number >= 60 ? 1 : 0);
        case DateRule::Kind::zero_based:
            return jan1 + rule.number;
        case DateRule::Kind::month_week_day:
            break;
    }
    const std::int64_t first = days_from_ymd(year, rule.month, 1);
    const std::int64_t next_month = days_from_ymd(year, rule.month + 1, 1);
    const std::int64_t first_weekday = floor_mod(first + 4, 7);  // 0 = Sunday
    std::int64_t day =
        first + floor_mod(rule.weekday - first_weekday, 7) + std::int64_t{rule.week - 1} * 7;
    while (day >= next_month) {  // week 5: the last such weekday
        day -= 7;
    }
    return day;
}

// The UTC instant at which `rule` fires in `year` while `utoff` is in force.
std::int64_t rule_instant(const DateRule& rule, std::int64_t year, std::int32_t utoff) {
    return rule_day(rule, year) * kSecondsPerDay + rule.time - utoff;
}

std::int64_t year_of(std::int64_t t, std::int32_t utoff) {
    return civil_from_days(floor_div(t + utoff, kSecondsPerDay)).year;
}

// A start (into DST) or end (out of DST) of the footer's rule.
struct Event {
    std::int64_t at = 0;
    bool into_dst = false;
};

// The last event at or before t. Looks one year either side: RFC 8536 rule
// times reach up to 167 hours, so a year's event may fall into the next.
// (Rules whose DST periods of neighbouring years overlap, which no real
// zone has, are read this way too: the latest start or end wins.)
std::optional<Event> latest_event_at_or_before(const PosixTz& tz, std::int64_t t) {
    std::optional<Event> best;
    const std::int64_t year = year_of(t, tz.std_type.utoff);
    for (std::int64_t y = year - 1; y <= year + 1; ++y) {
        const std::array<Event, 2> events = {
            Event{rule_instant(tz.end, y, tz.dst_type.utoff), false},
            Event{rule_instant(tz.start, y, tz.std_type.utoff), true},
        };
        for (const Event& e : events) {
            // On a tie (permanent DST: "EST5EDT4,0/0,J365/25") DST wins.
            if (e.at <= t && (!best || e.at > best->at || (e.at == best->at && e.into_dst))) {
                best = e;
            }
        }
    }
    return best;
}

const LocalType& posix_type_at(const PosixTz& tz, std::int64_t t) {
    if (!tz.has_dst) {
        return tz.std_type;
    }
    const auto event = latest_event_at_or_before(tz, t);
    return event && event->into_dst ? tz.dst_type : tz.std_type;
}

std::optional<std::int64_t> posix_next_change_after(const PosixTz& tz, std::int64_t t) {
    if (!tz.has_dst) {
        return std::nullopt;
    }
    std::optional<std::int64_t> best;
    const std::int64_t year = year_of(t, tz.std_type.utoff);
    for (std::int64_t y = year - 1; y <= year + 2; ++y) {
        for (const std::int64_t at : {rule_instant(tz.end, y, tz.dst_type.utoff),
                                      rule_instant(tz.start, y, tz.std_type.utoff)}) {
            if (at > t && (!best || at < *best)) {
                best = at;
            }
        }
    }
    return best;
}

// Printable form of outside text for error messages.
std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text.substr(0, 80)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    if (text.size() > 80) {
        out += "...";
    }
    return out;
}

class PosixParser {
  public:
    explicit PosixParser(std::string_view text) : text_(text) {}

    Result<PosixTz> parse() {
        PosixTz tz;
        if (!parse_name(tz.std_type.abbreviation, "standard time name") ||
            !parse_offset(tz.std_type.utoff, "standard time offset")) {
            return fail();
        }
        if (at_end()) {
            return tz;
        }
        tz.has_dst = true;
        tz.dst_type.is_dst = true;
        if (!parse_name(tz.dst_type.abbreviation, "daylight time name")) {
            return fail();
        }
        tz.dst_type.utoff = tz.std_type.utoff + 3600;
        if (!at_end() && peek() != ',' &&
            !parse_offset(tz.dst_type.utoff, "daylight time offset")) {
            return fail();
        }
        if (at_end()) {
            why_ = "daylight saving time without transition rules is not supported";
            return fail();
        }
        if (!expect(',') || !parse_rule(tz.start) || !expect(',') || !parse_rule(tz.end)) {
            return fail();
        }
        if (!at_end()) {
            why_ = "unexpected text after the rules";
            return fail();
        }
        return tz;
    }

  private:
    [[nodiscard]] bool at_end() const { return pos_ >= text_.size(); }
    [[nodiscard]] char peek() const { return at_end() ? '\0' : text_[pos_]; }
    static bool is_digit(char c) { return c >= '0' && c <= '9'; }
    static bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

    [[nodiscard]] Error fail() const {
        return make_error("bad TZ string \"" + printable(text_) + "\" at offset " +
                          std::to_string(pos_) + ": " + why_);
    }

    bool expect(char c) {
        if (peek() != c) {
            why_ = std::string("expected '") + c + "'";
            return false;
        }
        ++pos_;
        return true;
    }

    // "CET" (3+ letters) or "<+1030>" (3+ letters, digits, '+', '-').
    bool parse_name(std::string& out, const char* what) {
        constexpr std::size_t kMaxName = 16;
        const bool quoted = peek() == '<';
        if (quoted) {
            ++pos_;
        }
        const std::size_t begin = pos_;
        while (!at_end() && (is_alpha(peek()) ||
                             (quoted && (is_digit(peek()) || peek() == '+' || peek() == '-')))) {
            ++pos_;
        }
        out = std::string(text_.substr(begin, pos_ - begin));
        if (out.size() < 3 || out.size() > kMaxName) {
            why_ = std::string(what) + " must have 3 to 16 characters";
            return false;
        }
        if (quoted && !expect('>')) {
            why_ = std::string(what) + " in <...> is not closed by '>'";
            return false;
        }
        return true;
    }

    // Up to `max_digits` digits into `out`.
    bool parse_number(int max_digits, int& out) {
        out = 0;
        int digits = 0;
        while (digits < max_digits && is_digit(peek())) {
            out = out * 10 + (peek() - '0');
            ++pos_;
            ++digits;
        }
        return digits > 0;
    }

    // [+-]hh[:mm[:ss]] with hh <= max_hours, as signed seconds.
    bool parse_hms(int max_hours, std::int32_t& out, const char* what) {
        int sign = 1;
        if (peek() == '+' || peek() == '-') {
            sign = peek() == '-' ? -1 : 1;
            ++pos_;
        }
        int hours = 0;
        int minutes = 0;
        int seconds = 0;
        bool ok = parse_number(3, hours) && hours <= max_hours;
        if (ok && peek() == ':') {
            ++pos_;
            ok = parse_number(2, minutes) && minutes <= 59;
            if (ok && peek() == ':') {
                ++pos_;
                ok = parse_number(2, seconds) && seconds <= 59;
            }
        }
        if (!ok) {
            why_ = std::string("bad ") + what + " (want [+-]hh[:mm[:ss]], hours at most " +
                   std::to_string(max_hours) + ")";
            return false;
        }
        out = sign * (hours * 3600 + minutes * 60 + seconds);
        return true;
    }

    // POSIX offsets count west of UTC ("CET-1" is UTC+1); we store east.
    bool parse_offset(std::int32_t& utoff, const char* what) {
        std::int32_t west = 0;
        if (!parse_hms(24, west, what)) {
            return false;
        }
        utoff = -west;
        return true;
    }

    bool parse_rule(DateRule& rule) {
        bool ok = false;
        if (peek() == 'J') {
            ++pos_;
            rule.kind = DateRule::Kind::julian_no_leap;
            ok = parse_number(3, rule.number) && rule.number >= 1 && rule.number <= 365;
        } else if (peek() == 'M') {
            ++pos_;
            rule.kind = DateRule::Kind::month_week_day;
            ok = parse_number(2, rule.month) && rule.month >= 1 && rule.month <= 12 &&
                 expect('.') && parse_number(1, rule.week) && rule.week >= 1 && rule.week <= 5 &&
                 expect('.') && parse_number(1, rule.weekday) && rule.weekday <= 6;
        } else {
            rule.kind = DateRule::Kind::zero_based;
            ok = parse_number(3, rule.number) && rule.number <= 365;
        }
        if (!ok) {
            why_ = "bad date rule (want Jn with n 1-365, n with n 0-365, or Mm.w.d)";
            return false;
        }
        rule.time = 7200;
        if (peek() == '/') {
            ++pos_;
            return parse_hms(167, rule.time, "rule time");
        }
        return true;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::string why_;
};

// ---- TZif (RFC 8536) ---------------------------------------------------

constexpr std::size_t kHeaderBytes = 44;

struct Header {
    char version = '\0';
    std::uint32_t isutcnt = 0;
    std::uint32_t isstdcnt = 0;
    std::uint32_t leapcnt = 0;
    std::uint32_t timecnt = 0;
    std::uint32_t typecnt = 0;
    std::uint32_t charcnt = 0;

    // Bytes of the data block that follows, for `time_bytes`-byte times.
    [[nodiscard]] std::uint64_t data_bytes(std::uint64_t time_bytes) const {
        return std::uint64_t{timecnt} * time_bytes + timecnt + std::uint64_t{typecnt} * 6 +
               charcnt + std::uint64_t{leapcnt} * (time_bytes + 4) + isstdcnt + isutcnt;
    }
};

// Big-endian reads from a bounds-checked window of the input.
class Reader {
  public:
    explicit Reader(std::string_view bytes) : bytes_(bytes) {}

    [[nodiscard]] std::size_t remaining() const { return bytes_.size() - pos_; }
    [[nodiscard]] std::string_view rest() const { return bytes_.substr(pos_); }
    // Callers check remaining() first; these never read past the end.
    std::string_view take(std::size_t n) {
        const std::string_view out = bytes_.substr(pos_, std::min(n, remaining()));
        pos_ += out.size();
        return out;
    }
    std::uint64_t big_endian(std::size_t n) {
        std::uint64_t v = 0;
        for (const char c : take(n)) {
            v = (v << 8) | static_cast<unsigned char>(c);
        }
        return v;
    }
    std::uint32_t u32() { return static_cast<std::uint32_t>(big_endian(4)); }
    std::uint8_t u8() { return static_cast<std::uint8_t>(big_endian(1)); }

  private:
    std::string_view bytes_;
    std::size_t pos_ = 0;
};

Result<Header> read_header(Reader& in, const char* which) {
    if (in.remaining() < kHeaderBytes) {
        return make_error(std::string("truncated ") + which + " header");
    }
    if (in.take(4) != "TZif") {
        return make_error(std::string("bad magic in ") + which + " header (not a TZif file)");
    }
    Header h;
    h.version = in.take(1)[0];
    if (h.version != '\0' && (h.version < '2' || h.version > '4')) {
        return make_error("unsupported TZif version byte " +
                          std::to_string(static_cast<unsigned char>(h.version)) +
                          " (want NUL, '2', '3' or '4')");
    }
    in.take(15);  // reserved
    h.isutcnt = in.u32();
    h.isstdcnt = in.u32();
    h.leapcnt = in.u32();
    h.timecnt = in.u32();
    h.typecnt = in.u32();
    h.charcnt = in.u32();
    return h;
}

Result<ZoneData> read_data(Reader& in, const Header& h, std::size_t time_bytes) {
    if (h.typecnt == 0 || h.charcnt == 0) {
        return make_error("no local time types or no abbreviations");
    }
    if ((h.isutcnt != 0 && h.isutcnt != h.typecnt) ||
        (h.isstdcnt != 0 && h.isstdcnt != h.typecnt)) {
        return make_error("UT/local or standard/wall indicator count differs from type count");
    }
    if (h.leapcnt != 0) {
        return make_error("leap-second records (a \"right/\" zone) are not supported");
    }
    if (h.data_bytes(time_bytes) > in.remaining()) {
        return make_error("data block truncated");
    }
    ZoneData z;
    z.times.reserve(h.timecnt);
    for (std::uint32_t i = 0; i < h.timecnt; ++i) {
        const std::uint64_t raw = in.big_endian(time_bytes);
        const std::int64_t t = time_bytes == 4 ? std::int64_t{static_cast<std::int32_t>(raw)}
                                               : static_cast<std::int64_t>(raw);
        if (!z.times.empty() && t <= z.times.back()) {
            return make_error("transition times are not in ascending order");
        }
        z.times.push_back(t);
    }
    z.type_of.reserve(h.timecnt);
    for (std::uint32_t i = 0; i < h.timecnt; ++i) {
        z.type_of.push_back(in.u8());
        if (z.type_of.back() >= h.typecnt) {
            return make_error("transition " + std::to_string(i) + " names a missing type");
        }
    }
    struct RawType {
        std::int32_t utoff;
        std::uint8_t is_dst;
        std::uint8_t abbreviation_index;
    };
    std::vector<RawType> raw_types;
    for (std::uint32_t i = 0; i < h.typecnt; ++i) {
        const auto utoff = static_cast<std::int32_t>(in.u32());
        const std::uint8_t is_dst = in.u8();
        const std::uint8_t index = in.u8();
        // RFC 8536 3.2: utoff in [-89999, 93599], isdst 0 or 1.
        if (utoff < -89999 || utoff > 93599 || is_dst > 1 || index >= h.charcnt) {
            return make_error("local time type " + std::to_string(i) + " is out of range");
        }
        raw_types.push_back({utoff, is_dst, index});
    }
    const std::string_view chars = in.take(h.charcnt);
    for (const RawType& r : raw_types) {
        const std::string_view from = chars.substr(r.abbreviation_index);
        const std::size_t nul = from.find('\0');
        if (nul == std::string_view::npos) {
            return make_error("time zone abbreviation is not NUL-terminated");
        }
        z.types.push_back({r.utoff, r.is_dst == 1, std::string(from.substr(0, nul))});
    }
    for (const char c : in.take(std::size_t{h.isstdcnt} + h.isutcnt)) {
        if (c != '\0' && c != '\1') {
            return make_error("standard/wall or UT/local indicator is not 0 or 1");
        }
    }
    return z;
}

// The "\nTZ string\n" after a version 2+ data block; empty means no rule.
Result<std::string_view> read_footer(Reader& in) {
    const std::string_view rest = in.rest();
    if (rest.empty() || rest[0] != '\n') {
        return make_error("missing footer (want a newline-enclosed TZ string)");
    }
    const std::size_t end = rest.find('\n', 1);
    if (end == std::string_view::npos) {
        return make_error("footer TZ string is not terminated by a newline");
    }
    return rest.substr(1, end - 1);
}

}  // namespace

// ---- ZoneData queries -----------------------------------------------------

namespace detail {

const LocalType& ZoneData::type_at(std::int64_t t) const {
    if (times.empty()) {
        return footer ? posix_type_at(*footer, t) : types.front();
    }
    if (t < times.front()) {
        return types.front();  // RFC 8536 3.2: type 0 before the first transition
    }
    if (t > times.back() && footer) {
        return posix_type_at(*footer, t);
    }
    const auto it = std::upper_bound(times.begin(), times.end(), t);
    return types[type_of[static_cast<std::size_t>(it - times.begin()) - 1]];
}

std::optional<std::int64_t> ZoneData::next_change_after(std::int64_t t) const {
    if (!times.empty() && t < times.back()) {
        return *std::upper_bound(times.begin(), times.end(), t);
    }
    return footer ? posix_next_change_after(*footer, t) : std::nullopt;
}

}  // namespace detail

// ---- ZoneRules ----------------------------------------------------------------

ZoneRules::ZoneRules(std::string name, std::shared_ptr<const detail::ZoneData> data)
    : name_(std::move(name)), data_(std::move(data)) {}

ZoneRules ZoneRules::utc() {
    auto data = std::make_shared<ZoneData>();
    data->types.push_back({0, false, "UTC"});
    return ZoneRules("UTC", std::move(data));
}

Result<ZoneRules> ZoneRules::from_tzif(std::string_view name, std::string_view bytes) {
    const auto fail = [&](const std::string& why) {
        return make_error("time zone \"" + printable(name) + "\": bad TZif data: " + why);
    };
    Reader in(bytes);
    auto header = read_header(in, "first");
    if (!header) {
        return fail(header.error().message);
    }
    std::size_t time_bytes = 4;
    if (header->version != '\0') {
        // Version 2+: skip the 32-bit block; the 64-bit block follows it.
        if (header->data_bytes(4) > in.remaining()) {
            return fail("version 1 data block truncated");
        }
        in.take(static_cast<std::size_t>(header->data_bytes(4)));
        header = read_header(in, "second");
        if (!header) {
            return fail(header.error().message);
        }
        time_bytes = 8;
    }
    auto data = read_data(in, *header, time_bytes);
    if (!data) {
        return fail(data.error().message);
    }
    ZoneData& z = data.value();
    if (time_bytes == 8) {
        const auto footer = read_footer(in);
        if (!footer) {
            return fail(footer.error().message);
        }
        if (!footer->empty()) {
            auto tz = PosixParser(*footer).parse();
            if (!tz) {
                return fail(tz.error().message);
            }
            z.footer = std::move(tz).value();
        }
    }
    z.min_utoff = z.max_utoff = z.types.front().utoff;
    const auto widen = [&z](std::int32_t utoff) {
        z.min_utoff = std::min(z.min_utoff, utoff);
        z.max_utoff = std::max(z.max_utoff, utoff);
    };
    for (const LocalType& type : z.types) {
        widen(type.utoff);
    }
    if (z.footer) {
        widen(z.footer->std_type.utoff);
        if (z.footer->has_dst) {
            widen(z.footer->dst_type.utoff);
        }
    }
    return ZoneRules(std::string(name), std::make_shared<const ZoneData>(std::move(data).value()));
}

std::int32_t ZoneRules::offset_at(std::int64_t t) const {
    return data_->type_at(clamp_time(t)).utoff;
}

CivilTime ZoneRules::to_local(std::int64_t t) const {
    const std::int64_t utc = clamp_time(t);
    const std::int64_t local = utc + data_->type_at(utc).utoff;
    const std::int64_t days = floor_div(local, kSecondsPerDay);
    const std::int64_t seconds = local - days * kSecondsPerDay;
    CivilTime out = civil_from_days(days);
    out.hour = static_cast<int>(seconds / 3600);
    out.minute = static_cast<int>(seconds / 60 % 60);
    out.second = static_cast<int>(seconds % 60);
    return out;
}

std::int64_t ZoneRules::from_local(const CivilTime& local) const {
    // Local time f(t) = t + offset(t) is t plus a bounded step function, so
    // the answer lies in [wanted - max_utoff, wanted - min_utoff]. Walk the
    // constant-offset pieces of that window from its start; in each piece
    // the first t with t + offset >= wanted is max(start, wanted - offset).
    const ZoneData& z = *data_;
    const std::int64_t wanted = clamp_time(
        days_from_ymd(local.year, local.month, local.day) * kSecondsPerDay +
        std::int64_t{local.hour} * 3600 + std::int64_t{local.minute} * 60 + local.second);
    const std::int64_t last = wanted - z.min_utoff;
    std::int64_t t = wanted - z.max_utoff;
    for (int piece = 0; piece < 1000 && t < last; ++piece) {
        const std::int64_t candidate = std::max(t, wanted - z.type_at(t).utoff);
        const auto next = z.next_change_after(t);
        if (!next || candidate < *next) {
            return candidate;
        }
        t = *next;
    }
    return last;
}

std::string ZoneRules::abbreviation_at(std::int64_t t) const {
    return data_->type_at(clamp_time(t)).abbreviation;
}

}  // namespace staffel::core
