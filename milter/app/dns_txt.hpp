// dns_txt.hpp - TXT record lookups through the system resolver (libresolv).
//
// Purpose: `staffelctl dkim check` asks DNS for SELECTOR._domainkey.DOMAIN.
//   Queries go to the nameservers of /etc/resolv.conf, or to one given
//   server (an authoritative one, to see a change before caches expire).
//   EDNS0 is on, so records of big RSA keys come over UDP; a truncated
//   answer is retried over TCP by libresolv itself.
// Outcome: typed (STYLE.md §4). Found: the TXT records at the name (a CNAME
//   is followed), each one's character-strings concatenated. NotFound: the
//   name does not exist (NXDOMAIN) or has no TXT record (NODATA). Failed:
//   no usable answer (timeout, SERVFAIL, REFUSED, a malformed answer), in
//   words. The caller decides what each means.
// Thread-safety: one TxtResolver per thread (it owns a res_state).
// Outside input: DNS answers, parsed with ns_initparse/ns_parserr, bounded
//   by a 64 KiB buffer; every character-string length is checked against
//   its record's rdata.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace staffel::app {

struct TxtAnswer {
    enum class Status { Found, NotFound, Failed };
    Status status = Status::Failed;
    std::vector<std::string> records;  // Found: one text per TXT record
    std::string error;                 // NotFound, Failed: why, in words
};

// Is `spec` a nameserver TxtResolver::open() accepts ("IPV4" or "IPV4:PORT")?
bool valid_nameserver(const std::string& spec);

class TxtResolver {
  public:
    // `nameserver`: empty for /etc/resolv.conf's servers, else "IPV4" or
    // "IPV4:PORT" (IPv6 servers only through resolv.conf). Fails when the
    // resolver cannot be set up or the address is malformed.
    static core::Result<std::unique_ptr<TxtResolver>> open(const std::string& nameserver);

    ~TxtResolver();
    TxtResolver(const TxtResolver&) = delete;
    TxtResolver& operator=(const TxtResolver&) = delete;

    TxtAnswer lookup(const std::string& name);

  private:
    struct State;
    explicit TxtResolver(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

}  // namespace staffel::app
