// idna.hpp - internationalised domain names to their A-label form (libidn2).
//
// Purpose: suppression entries are keyed by normalised addresses; a domain
//   written in Unicode ("bücher.example") and its A-label form
//   ("xn--bcher-kva.example") must be one entry. This is the
//   core::DomainToAscii the session and staffelctl use.
// Thread-safety: thread-safe (libidn2 keeps no shared state).
// Errors: a domain IDNA2008 (UTS #46 non-transitional mapping) refuses is
//   a Result error carrying libidn2's reason.
// Outside input: the domain comes from SMTP clients and bounce messages;
//   the caller bounds its length.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace staffel::adapters {

core::Result<std::string> domain_to_ascii(std::string_view utf8_domain);

}  // namespace staffel::adapters
