// fuzz_csv.cpp - libFuzzer target: the CSV reader of `staffelctl suppress
// import` (core/suppress/csv.hpp).
//
// Purpose: import files come from other tools and from people; the reader
//   must never crash, loop or hit undefined behaviour on any bytes. The
//   input is fed in chunks whose sizes the first byte chooses, so record
//   boundaries fall anywhere; every row it accepts must carry a reason, an
//   address with "@" (or a hashed one) and survive being written back out
//   and read again unchanged. A broken promise aborts, which libFuzzer
//   reports as a crash.
// Seeds: tests/fuzz/corpus/csv/.
// Thread-safety: libFuzzer calls this from one thread.
// Outside input: the fuzzer's bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/suppress/csv.hpp"

namespace {

using namespace staffel::core;

void require(bool promise) {
    if (!promise) {
        std::abort();
    }
}

SuppressCsvOptions options() {
    SuppressCsvOptions o;
    o.accept_hashed = true;
    return o;
}

// Writes an accepted row back as CSV and reads it again: the same row.
void check_round_trip(const SuppressCsvRow& row) {
    SuppressionEntry e;
    e.address = row.address;
    e.reason = row.reason;
    e.scope = row.scope;
    e.streams = row.streams;
    e.expires_at = row.expires_at;
    e.source = row.source;
    SuppressCsvReader again(options());
    again.feed(suppress_csv_header_line() + "\n" + format_suppress_csv_row(e) + "\n");
    again.finish();
    auto header = again.next();
    require(header && header->header && header->row.ok());
    auto back = again.next();
    require(back && back->row.ok());
    require(back->row->address == row.address && back->row->reason == row.reason &&
            back->row->scope == row.scope && back->row->streams == row.streams &&
            back->row->expires_at == row.expires_at && back->row->source == row.source);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::size_t chunk = 1 + data[0] % 64;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    SuppressCsvReader reader(options());
    std::size_t seen = 0;
    auto drain = [&] {
        while (auto r = reader.next()) {
            require(r->line >= 1);
            ++seen;
            if (!r->header && r->row.ok()) {
                const auto& row = *r->row;
                require(row.hashed || row.address.find('@') != std::string::npos);
                check_round_trip(row);
            }
        }
    };
    for (std::size_t at = 0; at < input.size(); at += chunk) {
        reader.feed(input.substr(at, chunk));
        drain();
    }
    reader.finish();
    drain();
    require(reader.records() == seen);
    return 0;
}
