// spf_checker.cpp - core::SpfChecker on libspf2: input checks, the DNS
// layer stacks (resolver + cache, or zone [+ test delay]), the worker pool
// that bounds each check by a deadline, and the result mapping.
//
// The contract (timeouts, thread-safety, libspf2's deviations) is in
// spf_checker.hpp; what an answer means is in core/route/spf.hpp.
#include "adapters/spf2/spf_checker.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>

extern "C" {
#include <spf2/spf.h>
#include <spf2/spf_dns_cache.h>
#include <spf2/spf_dns_resolv.h>
#include <spf2/spf_dns_zone.h>
}

#include "core/text.hpp"

namespace staffel::adapters {

namespace {

using core::SpfAnswer;
using core::SpfResult;

// libspf2 prefixes its comments with the receiving domain; a fixed one
// keeps the host name out of them and is removed again in explain().
constexpr const char* kReceiver = "staffel";
constexpr std::string_view kReceiverPrefix = "staffel: ";
constexpr std::size_t kMaxSender = 512;  // RFC 5321 allows 256 for the whole path
constexpr std::size_t kMaxHelo = 255;
constexpr std::size_t kMaxDomain = 253;  // RFC 1035, without a trailing dot
constexpr int kCacheBits = 10;           // 1024 hash chains

// SPF_server_free() leaves the DNS layers of SPF_server_new_dns() to their
// creator; SPF_dns_free() frees a layer and every layer below it.
struct DnsFree {
    void operator()(SPF_dns_server_t* dns) const { SPF_dns_free(dns); }
};
struct ServerFree {
    void operator()(SPF_server_t* server) const { SPF_server_free(server); }
};
struct RequestFree {
    void operator()(SPF_request_t* request) const { SPF_request_free(request); }
};
struct ResponseFree {
    void operator()(SPF_response_t* response) const { SPF_response_free(response); }
};
using DnsPtr = std::unique_ptr<SPF_dns_server_t, DnsFree>;
using ServerPtr = std::unique_ptr<SPF_server_t, ServerFree>;
using RequestPtr = std::unique_ptr<SPF_request_t, RequestFree>;
using ResponsePtr = std::unique_ptr<SPF_response_t, ResponseFree>;

// ------------------------------------------------------------------ text

// Printable ASCII only (anything else becomes '?'), at most `max` bytes,
// "..." at the end when cut.
std::string printable(std::string_view text, std::size_t max) {
    std::string out;
    const bool cut = text.size() > max;
    const std::size_t keep = cut ? max - 3 : text.size();
    out.reserve(keep + 3);
    for (std::size_t i = 0; i < keep; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    }
    if (cut) {
        out += "...";
    }
    return out;
}

std::string quoted(std::string_view text) {
    return "'" + printable(text, 64) + "'";
}

bool has_control(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c < 0x20 || c == 0x7f;
    });
}

// RFC 7208 §4.3: a multi-label name with labels of 1..63 bytes. Letters,
// digits, '-' and '_' only: an IDN must arrive as A-labels.
bool plausible_domain(std::string_view domain) {
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);
    }
    if (domain.empty() || domain.size() > kMaxDomain ||
        domain.find('.') == std::string_view::npos) {
        return false;
    }
    std::size_t label = 0;
    for (const char ch : domain) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if (core::ascii_alnum(ch) || c == '-' || c == '_') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return label > 0;
}

// ----------------------------------------------------------------- query

// A checked question, in the form libspf2 takes. `answer` is set when
// the answer is known without DNS.
struct Prepared {
    int family = AF_INET;
    in_addr v4{};
    in6_addr v6{};
    std::string sender;
    std::string helo;
    std::optional<SpfAnswer> answer;
};

core::Result<bool> parse_ip(std::string_view text, Prepared& out) {
    const std::string ip(text);
    const bool clean = ip.find('\0') == std::string::npos;
    if (clean && inet_pton(AF_INET, ip.c_str(), &out.v4) == 1) {
        out.family = AF_INET;
        return true;
    }
    if (!clean || inet_pton(AF_INET6, ip.c_str(), &out.v6) != 1) {
        return core::make_error("SPF query: unparseable IP address " + quoted(text));
    }
    out.family = AF_INET6;
    if (IN6_IS_ADDR_V4MAPPED(&out.v6)) {  // RFC 7208 §5: evaluate as IPv4
        std::memcpy(&out.v4, &out.v6.s6_addr[12], sizeof out.v4);
        out.family = AF_INET;
    }
    return true;
}

core::Result<Prepared> prepare(const core::SpfQuery& query) {
    Prepared out;
    if (auto ip = parse_ip(query.ip, out); !ip.ok()) {
        return ip.error();
    }
    if (query.sender.size() > kMaxSender || has_control(query.sender)) {
        return core::make_error("SPF query: sender longer than 512 bytes or with control bytes");
    }
    if (query.helo.size() > kMaxHelo || has_control(query.helo) ||
        query.helo.find(' ') != std::string::npos) {
        return core::make_error("SPF query: HELO name too long or with spaces or control bytes: " +
                                quoted(query.helo));
    }
    if (query.sender.empty() && query.helo.empty()) {
        return core::make_error("SPF query: neither a sender nor a HELO name");
    }
    out.sender = query.sender.empty() ? "postmaster@" + query.helo : query.sender;
    const std::size_t at = out.sender.rfind('@');
    const std::string domain = at == std::string::npos ? out.sender : out.sender.substr(at + 1);
    out.helo = query.helo.empty() ? domain : query.helo;
    if (!plausible_domain(domain)) {
        out.answer = SpfAnswer{SpfResult::None, "malformed sender domain " + quoted(domain)};
    }
    return out;
}

// ---------------------------------------------------------------- answer

SpfResult map_result(SPF_result_t result, SPF_errcode_t err) {
    switch (result) {
        case SPF_RESULT_PASS:
            return SpfResult::Pass;
        case SPF_RESULT_FAIL:
            return SpfResult::Fail;
        case SPF_RESULT_SOFTFAIL:
            return SpfResult::SoftFail;
        case SPF_RESULT_NEUTRAL:
            return SpfResult::Neutral;
        case SPF_RESULT_NONE:
            return SpfResult::None;
        case SPF_RESULT_TEMPERROR:
            return SpfResult::TempError;
        case SPF_RESULT_PERMERROR:
            return SpfResult::PermError;
        case SPF_RESULT_INVALID:
        default:
            break;
    }
    // libspf2 stopped before a result: on the sender's own record, a DNS
    // failure (TRY_AGAIN, NO_RECOVERY) or a record that does not compile.
    if (err == SPF_E_DNS_ERROR || err == SPF_E_SUCCESS) {
        return SpfResult::TempError;
    }
    return SpfResult::PermError;
}

// libspf2's header comment without our receiver prefix; for errors, and
// when there is no comment, its error messages follow.
std::string explain(SPF_response_t* response, SpfResult result) {
    std::string text;
    if (const char* comment = SPF_response_get_header_comment(response); comment != nullptr) {
        std::string_view view(comment, strnlen(comment, core::kSpfExplanationMax + 1));
        if (view.substr(0, kReceiverPrefix.size()) == kReceiverPrefix) {
            view.remove_prefix(kReceiverPrefix.size());
        }
        text = view;
    }
    const bool add_errors =
        text.empty() || result == SpfResult::TempError || result == SpfResult::PermError;
    const int messages = add_errors ? SPF_response_messages(response) : 0;
    for (int i = 0; i < messages && text.size() <= core::kSpfExplanationMax; ++i) {
        SPF_error_t* message = SPF_response_message(response, i);
        if (message == nullptr || SPF_error_errorp(message) == 0) {
            continue;
        }
        const char* words = SPF_error_message(message);
        if (words != nullptr) {
            text += text.empty() ? "" : "; ";
            text.append(words, strnlen(words, core::kSpfExplanationMax + 1));
        }
    }
    if (text.empty()) {
        text = SPF_strerror(SPF_response_errcode(response));
    }
    return printable(text, core::kSpfExplanationMax);
}

// A question queued for a worker; whoever comes second (the worker with
// an answer, or the caller giving up) sees the other's mark.
struct Job {
    explicit Job(Prepared q) : query(std::move(q)) {}
    const Prepared query;
    std::mutex mutex;
    std::condition_variable done;
    std::optional<core::Result<SpfAnswer>> answer;
    bool abandoned = false;
};

// -------------------------------------------------------- the DNS layers

const Spf2Options& checked(const Spf2Options& options) {
    using std::chrono::milliseconds;
    using std::chrono::seconds;
    if (options.timeout < milliseconds(1) || options.timeout > seconds(60)) {
        throw std::invalid_argument("SPF: timeout must be 1 ms .. 60 s");
    }
    if (options.workers < 1 || options.workers > 64) {
        throw std::invalid_argument("SPF: workers must be 1 .. 64");
    }
    if (options.max_pending < options.workers || options.max_pending > 10000) {
        throw std::invalid_argument("SPF: max_pending must be workers .. 10000");
    }
    if (options.cache_ttl < seconds(1) || options.cache_ttl > std::chrono::hours(24)) {
        throw std::invalid_argument("SPF: cache_ttl must be 1 s .. 1 day");
    }
    return options;
}

DnsPtr resolver_stack(const Spf2Options& options) {
    DnsPtr resolver(SPF_dns_resolv_new(nullptr, "staffel-resolv", 0));
    if (!resolver) {
        throw std::runtime_error("SPF: libspf2 could not create its resolver layer");
    }
    DnsPtr cache(SPF_dns_cache_new(resolver.get(), "staffel-cache", 0, kCacheBits));
    if (!cache) {
        throw std::runtime_error("SPF: libspf2 could not create its cache layer");
    }
    static_cast<void>(resolver.release());  // SPF_dns_free(cache) frees the layer below too
    // Its resolver reports no TTLs: every answer, errors too, lives this long.
    const auto ttl = static_cast<time_t>(options.cache_ttl.count());
    SPF_dns_cache_set_ttl(cache.get(), ttl, ttl, ttl, ttl);
    return cache;
}

// The test delay layer: sleeps on chosen names, then asks the layer below.
struct DelayRule {
    std::string domain;  // lower case, no trailing dot
    ns_type type = ns_t_any;
    std::chrono::milliseconds delay{0};
};

SPF_dns_rr_t* delay_lookup(SPF_dns_server_t* layer, const char* domain, ns_type type,
                           int should_cache) {
    const auto* rules = static_cast<const std::vector<DelayRule>*>(layer->hook);
    std::string name = core::ascii_lower(domain);
    if (!name.empty() && name.back() == '.') {
        name.pop_back();
    }
    for (const DelayRule& rule : *rules) {
        if ((rule.type == ns_t_any || rule.type == type) && rule.domain == name) {
            std::this_thread::sleep_for(rule.delay);
            break;
        }
    }
    return SPF_dns_lookup(layer->layer_below, domain, type, should_cache);
}

void delay_destroy(SPF_dns_server_t* layer) {
    const std::unique_ptr<std::vector<DelayRule>> rules(
        static_cast<std::vector<DelayRule>*>(layer->hook));
    const std::unique_ptr<SPF_dns_server_t> owned(layer);
}

DnsPtr with_delays(DnsPtr below, std::vector<DelayRule> rules) {
    auto hook = std::make_unique<std::vector<DelayRule>>(std::move(rules));
    auto layer = std::make_unique<SPF_dns_server_t>();
    layer->destroy = delay_destroy;
    layer->lookup = delay_lookup;
    layer->layer_below = below.release();
    layer->name = "staffel-test-delay";
    layer->hook = hook.release();
    return DnsPtr(layer.release());
}

struct ZoneType {
    const char* name;
    ns_type type;
};
constexpr std::array<ZoneType, 6> kZoneTypes = {{{"TXT", ns_t_txt},
                                                 {"A", ns_t_a},
                                                 {"AAAA", ns_t_aaaa},
                                                 {"MX", ns_t_mx},
                                                 {"PTR", ns_t_ptr},
                                                 {"ANY", ns_t_any}}};

SPF_dns_stat_t herrno_of(Spf2Checker::DnsStatus status) {
    switch (status) {
        case Spf2Checker::DnsStatus::Answer:
            return NETDB_SUCCESS;
        case Spf2Checker::DnsStatus::NxDomain:
            return HOST_NOT_FOUND;
        case Spf2Checker::DnsStatus::NoData:
            return NO_DATA;
        case Spf2Checker::DnsStatus::TryAgain:
            return TRY_AGAIN;
        case Spf2Checker::DnsStatus::NoRecovery:
            return NO_RECOVERY;
    }
    return TRY_AGAIN;
}

// Checks what libspf2 would otherwise abort on or misread; returns the type.
ns_type checked_record(const Spf2Checker::ZoneRecord& record, std::size_t index) {
    const std::string where = "SPF zone record " + std::to_string(index + 1) + " (" +
                              quoted(record.domain) + " " + quoted(record.type) + "): ";
    const std::string type = core::ascii_upper(record.type);
    const auto* found = std::find_if(kZoneTypes.begin(), kZoneTypes.end(),
                                     [&](const ZoneType& z) { return type == z.name; });
    if (found == kZoneTypes.end()) {
        throw std::invalid_argument(where + "type must be TXT, A, AAAA, MX, PTR or ANY");
    }
    if (record.domain.empty() || record.domain.find('\0') != std::string::npos ||
        record.data.find('\0') != std::string::npos) {
        throw std::invalid_argument(where + "empty domain, or a NUL byte");
    }
    const bool answer = record.status == Spf2Checker::DnsStatus::Answer;
    if (answer && found->type == ns_t_any) {
        throw std::invalid_argument(where + "ANY only takes a status, not data");
    }
    if (!answer && !record.data.empty()) {
        throw std::invalid_argument(where + "a record with a status has no data");
    }
    if (record.delay < std::chrono::milliseconds(0)) {
        throw std::invalid_argument(where + "negative delay");
    }
    return found->type;
}

// libspf2's zone, then one "ANY: NODATA" entry per named domain (found
// after that domain's own records), so that a name with some records
// answers NODATA, not NXDOMAIN, for the types it lacks.
DnsPtr zone_stack(const std::vector<Spf2Checker::ZoneRecord>& records) {
    DnsPtr zone(SPF_dns_zone_new(nullptr, "staffel-zone", 0));
    if (!zone) {
        throw std::runtime_error("SPF: libspf2 could not create a zone layer");
    }
    std::vector<std::string> names;
    std::set<std::pair<std::string, int>> answered;
    std::set<std::pair<std::string, int>> with_status;
    std::vector<DelayRule> delays;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const auto& record = records[i];
        const ns_type type = checked_record(record, i);
        const bool answer = record.status == Spf2Checker::DnsStatus::Answer;
        const auto key = std::make_pair(core::ascii_lower(record.domain), static_cast<int>(type));
        if (with_status.contains(key) || (!answer && answered.contains(key))) {
            throw std::invalid_argument("SPF zone record " + std::to_string(i + 1) +
                                        ": a status cannot share a name and type");
        }
        (answer ? answered : with_status).insert(key);
        const SPF_errcode_t err =
            SPF_dns_zone_add_str(zone.get(), record.domain.c_str(), type, herrno_of(record.status),
                                 answer ? record.data.c_str() : nullptr);
        if (err != SPF_E_SUCCESS) {
            throw std::invalid_argument("SPF zone record " + std::to_string(i + 1) + ": " +
                                        SPF_strerror(err) + ": " + quoted(record.data));
        }
        if (std::find(names.begin(), names.end(), key.first) == names.end()) {
            names.push_back(key.first);
        }
        if (record.delay.count() > 0) {
            std::string name = key.first;
            if (name.back() == '.') {
                name.pop_back();
            }
            delays.push_back(DelayRule{name, type, record.delay});
        }
    }
    for (const std::string& name : names) {
        if (!with_status.contains({name, static_cast<int>(ns_t_any)})) {
            SPF_dns_zone_add_str(zone.get(), name.c_str(), ns_t_any, NO_DATA, nullptr);
        }
    }
    return delays.empty() ? std::move(zone) : with_delays(std::move(zone), std::move(delays));
}

}  // namespace

// ------------------------------------------------------------ the engine

struct Spf2Checker::Impl {
    Impl(DnsPtr dns_stack, const Spf2Options& opts);

    [[nodiscard]] core::Result<SpfAnswer> evaluate(const Prepared& query) const;
    void run_job(Job& job) const;
    void run_worker(std::size_t index);

    // Declared in this order: options are checked before anything is made,
    // and the server (which does not own its DNS layers) goes first.
    const Spf2Options options_;
    DnsPtr dns_;
    ServerPtr server_;  // only read once built

    std::mutex mutex_;  // guards what follows
    std::condition_variable work_ready_;
    std::condition_variable worker_exited_;
    std::deque<std::shared_ptr<Job>> queue_;
    std::size_t pending_ = 0;  // queued or running, abandoned ones included
    std::size_t live_workers_ = 0;
    std::vector<bool> exited_;
    bool stopping_ = false;
};

Spf2Checker::Impl::Impl(DnsPtr dns_stack, const Spf2Options& opts)
    : options_(checked(opts)),
      dns_(std::move(dns_stack)),
      server_(SPF_server_new_dns(dns_.get(), 0)) {
    if (!server_ || SPF_server_set_rec_dom(server_.get(), kReceiver) != SPF_E_SUCCESS) {
        throw std::runtime_error("SPF: libspf2 could not create its server");
    }
}

core::Result<SpfAnswer> Spf2Checker::Impl::evaluate(const Prepared& query) const {
    RequestPtr request(SPF_request_new(server_.get()));
    if (!request) {
        return core::make_error("SPF: libspf2 is out of memory");
    }
    SPF_errcode_t err = query.family == AF_INET ? SPF_request_set_ipv4(request.get(), query.v4)
                                                : SPF_request_set_ipv6(request.get(), query.v6);
    if (err == SPF_E_SUCCESS) {
        err = SPF_request_set_helo_dom(request.get(), query.helo.c_str());
    }
    if (err == SPF_E_SUCCESS) {
        err = static_cast<SPF_errcode_t>(
            SPF_request_set_env_from(request.get(), query.sender.c_str()));
    }
    if (err != SPF_E_SUCCESS) {
        return core::make_error(std::string("SPF: libspf2 refused the request: ") +
                                SPF_strerror(err));
    }
    SPF_response_t* raw = nullptr;
    err = SPF_request_query_mailfrom(request.get(), &raw);
    const ResponsePtr response(raw);
    if (!response || err == SPF_E_NO_MEMORY) {
        return core::make_error("SPF: libspf2 is out of memory");
    }
    const SpfResult result = map_result(SPF_response_result(response.get()), err);
    return SpfAnswer{result, explain(response.get(), result)};
}

void Spf2Checker::Impl::run_job(Job& job) const {
    {
        const std::lock_guard lock(job.mutex);
        if (job.abandoned) {
            return;
        }
    }
    std::optional<core::Result<SpfAnswer>> answer;
    try {
        answer.emplace(evaluate(job.query));
    } catch (const std::exception& e) {  // std::bad_alloc from our side
        answer.emplace(core::make_error(std::string("SPF: ") + e.what()));
    }
    {
        const std::lock_guard lock(job.mutex);
        job.answer = std::move(answer);
    }
    job.done.notify_one();
}

void Spf2Checker::Impl::run_worker(std::size_t index) {
    for (;;) {
        std::shared_ptr<Job> job;
        {
            std::unique_lock lock(mutex_);
            work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) {
                break;
            }
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        run_job(*job);
        const std::lock_guard lock(mutex_);
        --pending_;
    }
    {
        const std::lock_guard lock(mutex_);
        exited_[index] = true;
        --live_workers_;
    }
    worker_exited_.notify_all();
}

// ------------------------------------------------------------ the checker

Spf2Checker::Spf2Checker(const Spf2Options& options)
    : Spf2Checker(std::make_shared<Impl>(resolver_stack(checked(options)), options)) {}

std::unique_ptr<Spf2Checker> Spf2Checker::with_zone(const std::vector<ZoneRecord>& records,
                                                    const Spf2Options& options) {
    return std::unique_ptr<Spf2Checker>(
        new Spf2Checker(std::make_shared<Impl>(zone_stack(records), options)));
}

Spf2Checker::Spf2Checker(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {
    start_workers();
}

void Spf2Checker::start_workers() {
    const std::size_t count = impl_->options_.workers;
    impl_->exited_.assign(count, false);
    workers_.reserve(count);
    try {
        for (std::size_t i = 0; i < count; ++i) {
            {
                const std::lock_guard lock(impl_->mutex_);
                ++impl_->live_workers_;
            }
            workers_.emplace_back([impl = impl_, i] { impl->run_worker(i); });
        }
    } catch (...) {
        {
            const std::lock_guard lock(impl_->mutex_);
            impl_->stopping_ = true;
        }
        impl_->work_ready_.notify_all();
        for (std::thread& worker : workers_) {
            worker.join();
        }
        throw;
    }
}

// Waits up to one check timeout for the workers; those still inside
// libspf2 then are detached and release the libspf2 objects themselves.
Spf2Checker::~Spf2Checker() {
    std::unique_lock lock(impl_->mutex_);
    impl_->stopping_ = true;
    impl_->work_ready_.notify_all();
    impl_->worker_exited_.wait_for(lock, impl_->options_.timeout,
                                   [&] { return impl_->live_workers_ == 0; });
    const std::vector<bool> exited = impl_->exited_;
    lock.unlock();
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        if (exited[i]) {
            workers_[i].join();
        } else {
            workers_[i].detach();
        }
    }
}

core::Result<SpfAnswer> Spf2Checker::check(const core::SpfQuery& query) {
    auto prepared = prepare(query);
    if (!prepared.ok()) {
        return prepared.error();
    }
    if (prepared->answer) {
        return *prepared->answer;
    }
    const auto deadline = std::chrono::steady_clock::now() + impl_->options_.timeout;
    auto job = std::make_shared<Job>(std::move(prepared).value());
    {
        const std::lock_guard lock(impl_->mutex_);
        if (impl_->pending_ >= impl_->options_.max_pending) {
            return SpfAnswer{SpfResult::TempError, "busy: " + std::to_string(impl_->pending_) +
                                                       " SPF checks pending (slow DNS?)"};
        }
        impl_->queue_.push_back(job);
        ++impl_->pending_;
    }
    impl_->work_ready_.notify_one();
    std::unique_lock lock(job->mutex);
    if (!job->done.wait_until(lock, deadline, [&] { return job->answer.has_value(); })) {
        job->abandoned = true;
        return SpfAnswer{
            SpfResult::TempError,
            "timeout after " + std::to_string(impl_->options_.timeout.count()) + " ms"};
    }
    return std::move(*job->answer);
}

}  // namespace staffel::adapters
