// fuzz_address.cpp - libFuzzer target: address and domain normalisation and
// the suppression entry value codec (core/suppress/suppress.hpp).
//
// Purpose: addresses come from SMTP clients, bounce reports and CSV files,
//   entry values from Redis; none of these functions may crash or hit
//   undefined behaviour on any bytes. Beyond that, what they accept must be
//   stable: a normalised address or domain normalises to itself, and a
//   decoded entry value survives encode -> decode unchanged. A broken
//   promise aborts, which libFuzzer reports as a crash.
// Seeds: tests/fuzz/corpus/address/.
// Thread-safety: libFuzzer calls this from one thread.
// Outside input: the fuzzer's bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/suppress/suppress.hpp"

namespace {

using namespace staffel::core;

void require(bool promise) {
    if (!promise) {
        std::abort();
    }
}

void check_address(std::string_view input, bool fold) {
    const AddressRules rules{fold};
    auto got = normalise_address(input, rules);
    if (!got.ok()) {
        require(!got.error().message.empty());
        return;
    }
    require(got->find('@') != std::string::npos);
    auto again = normalise_address(*got, rules);
    require(again.ok() && *again == *got);
}

void check_domain(std::string_view input) {
    auto got = normalise_domain(input);
    if (!got.ok()) {
        return;
    }
    require(!got->empty());
    auto again = normalise_domain(*got);
    require(again.ok() && *again == *got);
}

void check_entry_value(std::string_view input) {
    auto got = decode_entry_value(input);
    if (!got.ok()) {
        return;
    }
    auto again = decode_entry_value(encode_entry_value(*got));
    require(again.ok() && *again == *got);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_address(input, true);
    check_address(input, false);
    check_domain(input);
    check_entry_value(input);
    return 0;
}
