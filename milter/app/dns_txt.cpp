// dns_txt.cpp - TXT lookups on libresolv; see dns_txt.hpp.
#include "app/dns_txt.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

namespace staffel::app {
namespace {

constexpr std::size_t kAnswerBytes = 65535;

core::Result<sockaddr_in> parse_nameserver(const std::string& spec) {
    const auto bad = [&spec] {
        return core::make_error("bad nameserver \"" + spec + "\": expected IPV4 or IPV4:PORT");
    };
    std::string host = spec;
    unsigned port = 53;
    if (const auto colon = spec.find(':'); colon != std::string::npos) {
        host = spec.substr(0, colon);
        const char* first = spec.data() + colon + 1;
        const char* last = spec.data() + spec.size();
        const auto [end, ec] = std::from_chars(first, last, port);
        if (ec != std::errc() || end != last || first == last || port == 0 || port > 65535) {
            return bad();
        }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
        return bad();
    }
    return addr;
}

std::string failure_words(int h_error, int saved_errno) {
    switch (h_error) {
        case TRY_AGAIN:
            return "no answer from the nameserver (timeout or SERVFAIL)";
        case NO_RECOVERY:
            return "the nameserver refused the query or gave an unusable answer";
        case NETDB_INTERNAL:
            return std::string("resolver error: ") + std::strerror(saved_errno);
        default:
            return "resolver error " + std::to_string(h_error);
    }
}

// The character-strings of one TXT rdata, concatenated; false if they
// overrun it.
bool txt_rdata_text(const unsigned char* rdata, std::size_t length, std::string& out) {
    std::size_t pos = 0;
    while (pos < length) {
        const std::size_t n = rdata[pos];
        if (pos + 1 + n > length) {
            return false;
        }
        out.append(reinterpret_cast<const char*>(rdata + pos + 1), n);
        pos += 1 + n;
    }
    return true;
}

}  // namespace

bool valid_nameserver(const std::string& spec) {
    return parse_nameserver(spec).ok();
}

struct TxtResolver::State {
    struct __res_state res {};
};

TxtResolver::TxtResolver(std::unique_ptr<State> state) : state_(std::move(state)) {}

TxtResolver::~TxtResolver() {
    res_nclose(&state_->res);
}

core::Result<std::unique_ptr<TxtResolver>> TxtResolver::open(const std::string& nameserver) {
    std::optional<sockaddr_in> server;
    if (!nameserver.empty()) {
        auto parsed = parse_nameserver(nameserver);
        if (!parsed) {
            return parsed.error();
        }
        server = *parsed;
    }
    auto state = std::make_unique<State>();
    if (res_ninit(&state->res) != 0) {
        return core::make_error("cannot set up the DNS resolver (see /etc/resolv.conf)");
    }
    std::unique_ptr<TxtResolver> resolver(new TxtResolver(std::move(state)));
    auto& res = resolver->state_->res;
    res.options |= RES_USE_EDNS0;
    res.retrans = 2;  // seconds per try
    res.retry = 2;
    if (server) {
        res.nsaddr_list[0] = *server;
        res.nscount = 1;
    }
    return resolver;
}

TxtAnswer TxtResolver::lookup(const std::string& name) {
    auto& res = state_->res;
    std::vector<unsigned char> buf(kAnswerBytes);
    errno = 0;
    const int n =
        res_nquery(&res, name.c_str(), ns_c_in, ns_t_txt, buf.data(), static_cast<int>(buf.size()));
    const int saved_errno = errno;
    TxtAnswer answer;
    if (n < 0) {
        if (res.res_h_errno == HOST_NOT_FOUND) {
            return {TxtAnswer::Status::NotFound, {}, "NXDOMAIN"};
        }
        if (res.res_h_errno == NO_DATA) {
            return {TxtAnswer::Status::NotFound, {}, "no TXT record at the name"};
        }
        return {TxtAnswer::Status::Failed, {}, failure_words(res.res_h_errno, saved_errno)};
    }
    const int length = std::min(n, static_cast<int>(buf.size()));
    ns_msg msg{};
    if (ns_initparse(buf.data(), length, &msg) < 0) {
        return {TxtAnswer::Status::Failed, {}, "unparsable DNS answer"};
    }
    const int count = msg._counts[ns_s_an];
    for (int i = 0; i < count; ++i) {
        ns_rr rr{};
        if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) {
            return {TxtAnswer::Status::Failed, {}, "unparsable DNS answer"};
        }
        if (rr.type != ns_t_txt || rr.rr_class != ns_c_in) {
            continue;  // the CNAMEs on the way
        }
        std::string text;
        if (!txt_rdata_text(rr.rdata, rr.rdlength, text)) {
            return {TxtAnswer::Status::Failed, {}, "malformed TXT record in the DNS answer"};
        }
        answer.records.push_back(std::move(text));
    }
    if (answer.records.empty()) {
        return {TxtAnswer::Status::NotFound, {}, "no TXT record at the name"};
    }
    answer.status = TxtAnswer::Status::Found;
    return answer;
}

}  // namespace staffel::app
