// fuzz_tag.cpp - libFuzzer target: the message tag (core/stats/tag.hpp)
// and the statistics value escaping (core/stats/counts.hpp).
//
// Purpose: a tag comes from a header field of the client's message and
//   ends up in a header field (Feedback-ID), a Redis hash field, a log line
//   and JSON; a statistics value comes from addresses and reasons. Neither
//   may crash, and their promises must hold on any bytes: a tag holds only
//   ASCII letters, digits and "-._+=@/_", is at most the bound and is
//   stable (sanitising it again changes nothing); a value is printable
//   ASCII without '|' or space, at most kMaxValueBytes, never empty. A
//   broken promise aborts, which libFuzzer reports as a crash.
// Seeds: tests/fuzz/corpus/tag/.
// Thread-safety: libFuzzer calls this from one thread.
// Outside input: the fuzzer's bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/stats/counts.hpp"
#include "core/stats/tag.hpp"

namespace {

void require(bool promise) {
    if (!promise) {
        std::abort();
    }
}

bool tag_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '+' || c == '=' || c == '@' || c == '/';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t max = size == 0 ? 64 : 1 + data[0] % 256;
    const auto tag = staffel::core::sanitise_tag(input, max);
    require(tag.size() <= max);
    for (const char c : tag) {
        require(tag_char(c));
    }
    require(staffel::core::sanitise_tag(tag, max) == tag);

    const auto value = staffel::core::stats::value_text(input);
    require(!value.empty() && value.size() <= staffel::core::stats::kMaxValueBytes);
    for (const char c : value) {
        require(c > 0x20 && c < 0x7f && c != '|');
    }
    return 0;
}
