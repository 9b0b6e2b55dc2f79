// headers.hpp - the header fields of one message, and its author domain.
//
// Purpose: Session collects the header fields the MTA passes (bounded in
//   count and bytes); DKIM signing selects and canonicalises them and
//   chooses its key from the From: field's domain.
// Input: fields as libmilter gives them with SMFIP_HDR_LEADSPC: the name
//   without the colon, the value with every byte after the colon (leading
//   whitespace and folding line breaks included).
// Thread-safety: value types and pure functions.
// Errors: author_domain() returns why it found no single author domain.
// Outside input: every byte comes from the SMTP client; parsing here is
//   bounded by the collector's limits and never trusts the syntax.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/text.hpp"

namespace staffel::core {

struct HeaderField {
    std::string name;
    std::string value;
    bool operator==(const HeaderField&) const = default;
};

// Collects header fields up to `max_fields` fields and `max_bytes` bytes
// (names and values together). Past either bound it stops storing and
// remembers it: the message is then refused, never signed half-read.
class HeaderCollector {
  public:
    HeaderCollector(std::size_t max_fields, std::size_t max_bytes)
        : max_fields_(max_fields), max_bytes_(max_bytes) {}

    // Returns false once the bounds are exceeded.
    bool add(std::string_view name, std::string_view value);

    [[nodiscard]] const std::vector<HeaderField>& fields() const { return fields_; }
    [[nodiscard]] bool overflowed() const { return overflowed_; }
    [[nodiscard]] std::size_t bytes() const { return bytes_; }

  private:
    std::size_t max_fields_;
    std::size_t max_bytes_;
    std::size_t bytes_ = 0;
    bool overflowed_ = false;
    std::vector<HeaderField> fields_;
};

// Why a message has no single author domain.
enum class AuthorProblem { NoFrom, SeveralFrom, Unparsable, SeveralDomains };
std::string_view to_string(AuthorProblem problem);  // "no-from", "several-from", ...

struct AuthorDomain {
    bool ok = false;
    std::string domain;  // lower-case, without a trailing dot, when ok
    AuthorProblem problem = AuthorProblem::NoFrom;
};

// The domain of the From: field's mailbox(es) (RFC 5322 §3.6.2). Display
// names, comments, quoted local parts and groups are understood; a From:
// with several mailboxes is accepted only if all share one domain. Domain
// literals ("[192.0.2.1]") and empty domains are unparsable.
AuthorDomain author_domain(const std::vector<HeaderField>& fields);

// The domain of the addresses in one From:-style value (for tests and
// author_domain()).
AuthorDomain mailbox_list_domain(std::string_view value);

// The one RFC 5322 address-list parser (§3.4): the addr-spec of each
// mailbox of a field value such as From:, To: or Cc:, in order, with the
// members of groups ("team: a@x, b@y;") in place of the group. Display
// names, comments (nested, with quoted-pairs) and an obsolete route
// ("<@relay:a@b>") are dropped; a quoted local part is kept as written.
// Elements that are empty or hold no '@' (a group's name, "<>") are
// skipped. nullopt when the value is malformed: an unbalanced comment,
// quote or angle bracket, or an unquoted '@' in a group's display name.
// Costs one pass; the result is never longer than the value.
std::optional<std::vector<std::string>> parse_address_list(std::string_view value);

}  // namespace staffel::core
