// route.hpp - routes: the exit a stream's mail leaves by, and the envelope
// and header edits that exit needs.
//
// Purpose: the MTA routes by the envelope. A route names a bounce domain
//   (which the MTA's sender_dependent_default_transport_maps maps to a
//   relay: contrib/postfix/), the return-path it needs on that domain, the
//   header fields to add and strip, the DKIM keys that sign on it and the
//   egress IPs it sends from. Staffel rewrites MAIL FROM (smfi_chgfrom)
//   and edits the header; the MTA does the rest.
// Return paths (the new MAIL FROM; "keep" leaves it alone):
//   plain  LOCAL@BOUNCE-DOMAIN                      (LOCAL: return_local)
//   verp   LOCAL+RCPTLOCAL=RCPTDOMAIN@BOUNCE-DOMAIN (one recipient; a
//          message with several gets the plain form: one envelope sender
//          cannot name several recipients)
//   srs    the sender in SRS0 form on the bounce domain (core/route/srs)
//   A null sender (<>) is never rewritten: bounces must stay bounces.
// Header templates: "Name: text" where text may hold {header:Other-Name}
//   (that field's value in the message, first occurrence, trimmed; empty if
//   absent), {stream}, {route}, {sender_domain} and {tag}.
// Thread-safety: plain values and pure functions.
// Outside input: header values and addresses from the client are bounded
//   and have CR/LF removed before they reach a template.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/headers.hpp"
#include "core/result.hpp"

namespace staffel::core {

enum class ReturnPath { Keep, Plain, Verp, Srs };

struct HeaderTemplate {
    std::string name;
    std::string value;  // template text
};

struct Route {
    std::string name;
    std::string bounce_domain;  // "" only with return_path = keep
    ReturnPath return_path = ReturnPath::Plain;
    std::string return_local = "bounces";
    std::vector<HeaderTemplate> add_headers;
    std::vector<std::string> strip_headers;  // field names, case-insensitive
    std::vector<std::string> dkim_keys;      // "domain/selector"; empty: any the table allows
    std::vector<std::string> egress_ips;
    std::string fallback;  // route to take while this one is down; "" = none
    // Who carries it, for the dashboard's split: the in-house MTA or an ESP.
    enum class Kind { InHouse, Esp };
    Kind kind = Kind::InHouse;
    // return_path = "srs": secrets from srs_secret_file, the first signs,
    // every one verifies (rotation); never logged.
    std::string srs_secret_file;
    std::vector<std::string> srs_secrets;
    int srs_max_age_days = 21;
    // SPF pre-flight: what to do when an egress IP would not pass SPF for
    // the envelope sender's domain (only domains in routing.spf_domains).
    enum class SpfAction { Report, BounceDomain, SwitchRoute };
    SpfAction on_spf_fail = SpfAction::Report;
    std::string spf_switch_route;  // SwitchRoute: the route to take
    std::string helo;              // the HELO name the route's MTA uses (SPF %{h}); "" = none
    std::string where;             // FILE:LINE:COL
};

struct EnvelopeInput {
    std::string_view sender;                               // current MAIL FROM, "" for <>
    const std::vector<std::string>* recipients = nullptr;  // accepted, normalised or as given
};

// The new MAIL FROM for this route, or nullopt to leave it alone. SRS is
// computed by the caller (it needs a secret and a clock).
std::optional<std::string> route_sender(const Route& route, const EnvelopeInput& in);

struct TemplateInput {
    const std::vector<HeaderField>* headers = nullptr;
    std::string_view stream;
    std::string_view route;
    std::string_view sender;
    std::string_view tag;  // [stats] tag_headers; "" = none
};

// The recipient a VERP return path encodes, the inverse of route_sender()
// with return_path = verp: "bounces+bob=example.org@b.example" ->
// "bob@example.org" (the part after the first "+" of the local part; its
// last "=" stands for the "@"). nullopt when the address is not
// VERP-encoded: no "+", nothing before or after that "=", or an "@" after
// it (a domain never holds one). The bounce domain is not checked: the caller decides which
// addresses it decodes.
std::optional<std::string> verp_decode(std::string_view envelope_recipient);

// Expands one template; the result holds no CR, LF or NUL and at most 998
// bytes.
std::string expand_template(std::string_view text, const TemplateInput& in);

// Checks a template at load: known placeholders only, balanced braces.
Result<bool> check_template(std::string_view text);

const Route* find_route(const std::vector<Route>& routes, std::string_view name);

}  // namespace staffel::core
