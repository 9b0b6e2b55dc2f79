// mime_budget.hpp - how much structure GMime may build from one message,
// checked before GMime sees it.
//
// Purpose: GMime turns every header field, Content-Type parameter, address
//   and MIME part into objects of a few hundred bytes to two kilobytes each,
//   whatever the bytes that made them: 10 MiB of "To: a@b,a@b,..." or of
//   empty parts took 700 to 900 MB (70 to 85 times the input). This scan
//   counts, in one linear pass and without allocating, what could become
//   such objects and refuses the message past fixed bounds, so the parser's
//   memory stays a small multiple of the message plus a fixed amount:
//   - field items: lines that look like the start of a header field
//     ("Name:"), plus every "," and ";" in them and in the folded lines
//     that continue them (parameters, addresses, groups). Lines inside a
//     body count too: the scan does not know where bodies are, so it errs
//     on the side of refusing;
//   - delimiter lines: lines that start with "--" (a MIME part each, at
//     most).
//   A real bounce or complaint report has a few hundred field items and a
//   handful of delimiters (a DSN on 1000 recipients about 10,000 items).
// Thread-safety: pure function.
// Outside input: the whole message, trusted for nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace staffel::adapters {

inline constexpr std::size_t kMaxMimeFieldItems = 50000;
inline constexpr std::size_t kMaxMimeDelimiters = 5000;

// Why GMime must not parse `message`, or "" if it may.
std::string mime_budget_problem(std::string_view message);

}  // namespace staffel::adapters
