// fuzz_verp.cpp - libFuzzer target: the VERP return path, encoded by
// route_sender() and decoded by verp_decode() (core/route/route.hpp).
//
// Purpose: `staffelctl ingest --recipient` decodes the envelope recipient
//   of a bounce, which anyone can send; decoding must never crash, leak or
//   hit undefined behaviour, and must keep these promises (a broken one
//   aborts, which libFuzzer reports as a crash):
//     V1  a decoded recipient is LOCAL "@" DOMAIN, both non-empty, DOMAIN
//         without '@', and is shorter than the address it came from.
//     V2  round trip: for a recipient that normalise_address() accepts,
//         verp_decode(route_sender(verp route, that recipient)) gives the
//         recipient back, for any return_local the schema allows.
// Input layout: the whole input is decoded; the input is also taken as
//   the recipient of V2, and its first byte picks the return_local.
// Seeds: tests/fuzz/corpus/verp/.
// Thread-safety: libFuzzer calls this from one thread.
// Outside input: the fuzzer's bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/route/route.hpp"
#include "core/suppress/suppress.hpp"

namespace {

using namespace staffel::core;

// Aborts, naming the line of the promise broken.
void require(bool promise, int line = __builtin_LINE()) {
    if (!promise) {
        std::fprintf(stderr, "promise broken at %s:%d\n", __FILE__, line);
        std::abort();
    }
}

void check_decode(std::string_view address) {
    // V1
    const auto got = verp_decode(address);
    if (!got) {
        return;
    }
    const auto at = got->rfind('@');
    require(at != std::string::npos && at > 0 && at + 1 < got->size());
    require(got->find('@', at + 1) == std::string::npos);
    require(got->size() < address.size());
}

void check_round_trip(std::string_view recipient, unsigned pick) {
    // V2: return_local holds letters, digits, '-', '_' and '.'.
    static const char* const kLocals[] = {"bounces", "b", "bounce-x_y.z", "R"};
    auto normalised = normalise_address(recipient, AddressRules{(pick & 4U) != 0});
    if (!normalised.ok()) {
        return;
    }
    Route route;
    route.name = "r";
    route.return_path = ReturnPath::Verp;
    route.bounce_domain = "bounce.example.com";
    route.return_local = kLocals[pick & 3U];
    const std::vector<std::string> rcpts{*normalised};
    const auto sender = route_sender(route, EnvelopeInput{"app@example.com", &rcpts});
    require(sender.has_value());
    check_decode(*sender);
    const auto back = verp_decode(*sender);
    require(back.has_value() && *back == *normalised);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_decode(input);
    if (size > 0) {
        check_round_trip(input.substr(1), data[0]);
    }
    return 0;
}
