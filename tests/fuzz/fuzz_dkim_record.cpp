// fuzz_dkim_record.cpp - libFuzzer target: DKIM key records and zone-file
// TXT text (core/dkim/dns_record.hpp).
//
// Purpose: `staffelctl dkim check` reads TXT answers from DNS and zone
//   files an admin wrote; neither may crash the parsers, leak or hit
//   undefined behaviour, and what they accept must keep these promises
//   (a broken one aborts, which libFuzzer reports as a crash):
//     R1  parse_dkim_key_record(): an accepted record has a k= and a p=
//         without whitespace; checking it against its own p= for the
//         algorithm its k= names gives Match, or Revoked for an empty p=.
//     R2  a record made by make_dkim_key_record() from an accepted p=
//         parses back to that p= and k=.
//     R3  parse_zone_txt(): every record's text holds no more than the
//         zone's bytes, its line is within the zone's lines, and its name
//         has no upper-case ASCII letter.
//     R4  format_zone_txt() round trip: for a domain and selector that
//         check_dkim_domain()/check_dkim_selector() accept and any text,
//         parse_zone_txt(format_zone_txt(NAME, split_character_strings(
//         TEXT))) is exactly one record named NAME holding TEXT, and every
//         string of the split is at most 255 bytes.
//     R5  check_dkim_domain() and check_dkim_selector() are stable: what
//         they return, they accept again unchanged; normalize_dns_name()
//         is idempotent.
// Input layout: the whole input is tried as a record, a zone, a name; the
//   part before the first NUL is also used as domain, selector and text
//   of R4 (split at the first two '|').
// Seeds: tests/fuzz/corpus/dkim_record/.
// Thread-safety: libFuzzer calls this from one thread.
// Outside input: the fuzzer's bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/dkim/dns_record.hpp"

namespace {

using namespace staffel::core;

// Aborts, naming the line of the promise broken.
void require(bool promise, int line = __builtin_LINE()) {
    if (!promise) {
        std::fprintf(stderr, "promise broken at %s:%d\n", __FILE__, line);
        std::abort();
    }
}

void check_record(std::string_view text) {
    auto got = parse_dkim_key_record(text);
    if (!got.ok()) {
        require(!got.error().message.empty());
        return;
    }
    require(!got->key_type.empty());
    require(got->public_key.find_first_of(" \t\r\n") == std::string::npos);
    // R1
    for (const auto algorithm : {DkimAlgorithm::RsaSha256, DkimAlgorithm::Ed25519Sha256}) {
        const auto verdict = check_dkim_key_record(text, algorithm, got->public_key);
        require(verdict.match != KeyRecordMatch::Invalid);
        if (got->public_key.empty()) {
            require(verdict.match == KeyRecordMatch::Revoked);
        }
        (void)verdict.to_string();
        const bool fits = got->key_type == dkim_key_type(algorithm) &&
                          (got->hash_algorithms.empty() ||
                           std::find(got->hash_algorithms.begin(), got->hash_algorithms.end(),
                                     "sha256") != got->hash_algorithms.end()) &&
                          (got->service_types.empty() ||
                           std::find(got->service_types.begin(), got->service_types.end(), "*") !=
                               got->service_types.end() ||
                           std::find(got->service_types.begin(), got->service_types.end(),
                                     "email") != got->service_types.end());
        if (fits && !got->public_key.empty()) {
            require(verdict.match == KeyRecordMatch::Match);
        }
        // R2
        auto again = parse_dkim_key_record(make_dkim_key_record(algorithm, got->public_key));
        require(again.ok() && again->public_key == got->public_key &&
                again->key_type == dkim_key_type(algorithm));
        std::string joined;
        for (const auto& s : dkim_key_record_strings(algorithm, got->public_key)) {
            require(s.size() <= kMaxCharacterString);
            joined += s;
        }
        require(joined == make_dkim_key_record(algorithm, got->public_key));
    }
    (void)check_dkim_key_records({std::string(text), "v=DKIM1; p="}, DkimAlgorithm::RsaSha256,
                                 got->public_key);
}

void check_zone(std::string_view zone) {
    auto got = parse_zone_txt(zone);
    if (!got.ok()) {
        require(got.error().message.starts_with("line "));
        return;
    }
    const auto lines = static_cast<std::size_t>(std::count(zone.begin(), zone.end(), '\n')) + 1;
    for (const auto& r : *got) {
        require(r.text.size() <= zone.size());  // R3
        require(r.line >= 1 && r.line <= lines);
        require(r.name.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos);
    }
}

void check_names(std::string_view text) {
    // R5
    if (auto d = check_dkim_domain(text)) {
        auto again = check_dkim_domain(*d);
        require(again.ok() && *again == *d);
    }
    if (auto s = check_dkim_selector(text)) {
        auto again = check_dkim_selector(*s);
        require(again.ok() && *again == *s);
    }
    const auto n = normalize_dns_name(text);
    require(normalize_dns_name(n) == n || (text.ends_with("..")));
}

void check_round_trip(std::string_view head) {
    // R4
    const auto bar1 = head.find('|');
    if (bar1 == std::string_view::npos) {
        return;
    }
    const auto bar2 = head.find('|', bar1 + 1);
    if (bar2 == std::string_view::npos) {
        return;
    }
    auto domain = check_dkim_domain(head.substr(0, bar1));
    auto selector = check_dkim_selector(head.substr(bar1 + 1, bar2 - bar1 - 1));
    if (!domain.ok() || !selector.ok()) {
        return;
    }
    const std::string_view text = head.substr(bar2 + 1);
    const std::string name = dkim_record_name(*selector, *domain);
    const auto strings = split_character_strings(text);
    for (const auto& s : strings) {
        require(s.size() <= kMaxCharacterString);
    }
    auto got = parse_zone_txt(format_zone_txt(name, strings));
    require(got.ok() && got->size() == 1);
    require((*got)[0].name == normalize_dns_name(name) && (*got)[0].text == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_record(input);
    check_zone(input);
    check_names(input);
    check_round_trip(input.substr(0, input.find('\0')));
    return 0;
}
