// spf_checker.hpp - the SPF pre-flight (core/route/spf.hpp) on libspf2.
//
// Purpose: answers core::SpfChecker::check() with libspf2 1.2.10: real DNS
//   for staffeld (libspf2's resolv layer under its cache layer), or an
//   in-memory zone for tests (libspf2's zone layer with no layer below, so
//   a test never touches the network).
// Timeouts: libspf2's resolver has no timeout of its own. It keeps a
//   private res_state per thread (res_ninit from /etc/resolv.conf and
//   RES_OPTIONS), so setting _res.retrans/_res.retry does not reach it,
//   and one SPF check may make a dozen lookups in a row anyway. So every
//   check runs on a small pool of worker threads: check() queues the
//   question and waits until its deadline; when the deadline passes first
//   it answers TempError "timeout after N ms" and the worker's late result
//   is dropped. A worker stuck in DNS stays busy until the resolver gives
//   up; when options.max_pending checks are queued or running, check()
//   answers TempError "busy" at once instead of queueing more. Memory and
//   threads are therefore bounded, whatever DNS does.
// Cache (real DNS): libspf2's cache keeps every answer, errors included,
//   for exactly options.cache_ttl (its resolver does not report DNS TTLs).
// Results: libspf2's SPF_RESULT_* map one to one; a record that does not
//   compile (SPF_E_* syntax errors) is PermError, a DNS failure on the
//   sender's own record is TempError. Deviations of libspf2 1.2.10 from
//   RFC 7208 that a policy may notice: the 10-lookup limit is counted per
//   record, not across include: (long include chains end at libspf2's
//   recursion limit as PermError); a loopback IP (127/8, ::1) is always
//   Pass ("localhost is always allowed"); IPv4-mapped IPv6 addresses are
//   turned into IPv4 here before libspf2 sees them (RFC 7208 §5).
// Thread-safety: check() may be called from any number of threads. The
//   SPF_server_t is shared and only read during queries; each query has
//   its own SPF_request_t and SPF_response_t. The zone and the test-delay
//   layer are read-only once built; libspf2's cache layer locks itself;
//   its resolver state is per thread. Destroying the checker while a
//   check() runs in another thread is a bug. The destructor does not wait
//   for workers stuck in DNS beyond options.timeout: they are detached and
//   free the libspf2 objects when they return.
// Errors: check() returns Result values (see core/route/spf.hpp). The
//   constructors run at start-up and throw std::invalid_argument (bad
//   options or zone records) or std::runtime_error (libspf2 refused).
//   libspf2 itself exits the process on a few impossible conditions
//   (SPF_error: a failed res_ninit, malformed internal state); the zone
//   records are checked here first so that tests cannot trigger those.
// Outside input: senders and HELO names from SMTP (checked: no NUL, no
//   controls, bounded lengths, a plausible domain); DNS answers (through
//   libspf2; explanations are sanitised and bounded by the core's rule).
//   The sender's local part reaches libspf2's macro expander only through
//   %{l}/%{s} in a listed domain's own record; libspf2's macro code has had
//   memory-safety bugs (CVE-2021-20314, fixed in Debian's 1.2.10-7.1), so
//   keep macros out of the records of domains the policy evaluates.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/result.hpp"
#include "core/route/spf.hpp"

namespace staffel::adapters {

struct Spf2Options {
    std::chrono::milliseconds timeout{2000};  // per check, queueing included; 1 ms .. 60 s
    std::size_t workers = 4;                  // threads running libspf2 queries; 1 .. 64
    std::size_t max_pending = 64;             // checks queued or running; workers .. 10000
    std::chrono::seconds cache_ttl{60};       // real DNS only; 1 s .. 1 day
};

class Spf2Checker final : public core::SpfChecker {
  public:
    // How a zone name answers a query of the record's type.
    enum class DnsStatus {
        Answer,      // the record's data (NOERROR)
        NxDomain,    // HOST_NOT_FOUND: the name does not exist
        NoData,      // NO_DATA: the name exists, no record of this type
        TryAgain,    // TRY_AGAIN: SERVFAIL or a resolver timeout
        NoRecovery,  // NO_RECOVERY: REFUSED, FORMERR, NOTIMP
    };

    // One record of an in-memory test zone. libspf2 answers a query with
    // the first record, in the order given, whose name (or wildcard) and
    // type (or ANY) match: give specific records before wildcards and ANY.
    struct ZoneRecord {
        std::string domain;  // "example.com", or "*.example.com" (libspf2 wildcard)
        std::string type;    // "TXT", "A", "AAAA", "MX", "PTR"; "ANY" only with a status
        std::string data;    // TXT text; A/AAAA address; MX "10 mx.example.com"; PTR name
        DnsStatus status = DnsStatus::Answer;  // not Answer: data must be empty
        // Every lookup of exactly this name (and type; "ANY": every type)
        // sleeps this long first: a slow DNS server, to test timeouts.
        std::chrono::milliseconds delay{0};
    };

    // Real DNS: libspf2's resolv layer (the system resolver configuration)
    // under a cache layer. Throws on bad options or when libspf2 fails.
    explicit Spf2Checker(const Spf2Options& options = {});

    // An in-memory zone and nothing else: names without records answer
    // NXDOMAIN, types a named domain lacks answer NODATA. Throws
    // std::invalid_argument naming the first bad record.
    static std::unique_ptr<Spf2Checker> with_zone(const std::vector<ZoneRecord>& records,
                                                  const Spf2Options& options = {});

    ~Spf2Checker() override;
    Spf2Checker(const Spf2Checker&) = delete;
    Spf2Checker& operator=(const Spf2Checker&) = delete;

    core::Result<core::SpfAnswer> check(const core::SpfQuery& query) override;

  private:
    struct Impl;  // the libspf2 objects, the queue and its counters (spf_checker.cpp)

    explicit Spf2Checker(std::shared_ptr<Impl> impl);
    void start_workers();

    std::shared_ptr<Impl> impl_;  // shared with the workers
    std::vector<std::thread> workers_;
};

}  // namespace staffel::adapters
