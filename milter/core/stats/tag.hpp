// tag.hpp - the message's tag (campaign id) from its header.
//
// Purpose: [stats] tag_headers names header fields such as X-Campaign-Id;
//   the first one present gives the tag that statistics, events, route
//   header templates and the Feedback-ID template ({tag}) use.
// Outside input: the header value comes from the client. The tag keeps
//   ASCII letters, digits and "-._+=@/" only (anything else becomes "_",
//   runs of it one "_"), loses leading and trailing blanks, and is cut at
//   `max_bytes`, so it is safe in a header field, a Redis key field, a log
//   line and JSON, and cannot forge Feedback-ID's ':' separators.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/headers.hpp"

namespace staffel::core {

// The sanitised tag of one header value; "" when nothing is left.
std::string sanitise_tag(std::string_view value, std::size_t max_bytes);

// The first field of `names` present in `fields` (case-insensitive), as a
// sanitised tag; "" when none is present or its value sanitises to "".
std::string message_tag(const std::vector<HeaderField>& fields, std::span<const std::string> names,
                        std::size_t max_bytes);

}  // namespace staffel::core
