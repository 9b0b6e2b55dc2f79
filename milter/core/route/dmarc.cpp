// dmarc.cpp - see dmarc.hpp.
#include "core/route/dmarc.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace staffel::core {
namespace {

std::string_view without_dot(std::string_view d) {
    return !d.empty() && d.back() == '.' ? d.substr(0, d.size() - 1) : d;
}

}  // namespace

bool domains_align(std::string_view a, std::string_view b, DmarcAlignment mode,
                   const OrgDomainFn& org) {
    a = without_dot(a);
    b = without_dot(b);
    if (a.empty() || b.empty()) {
        return false;
    }
    if (iequals(a, b)) {
        return true;
    }
    if (mode != DmarcAlignment::Relaxed || !org) {
        return false;
    }
    const auto oa = org(ascii_lower(a));
    return !oa.empty() && oa == org(ascii_lower(b));
}

DmarcPrediction predict_dmarc(const DmarcInput& in, DmarcAlignment mode, const OrgDomainFn& org) {
    DmarcPrediction p;
    if (in.from_domain.empty()) {
        p.log =
            "unknown(" + std::string(in.from_problem.empty() ? "no-from" : in.from_problem) + ")";
        return p;
    }
    std::string dkim;
    for (const auto& d : in.dkim_domains) {
        if (domains_align(d, in.from_domain, mode, org)) {
            p.dkim_aligned = true;
            dkim = d;
            break;
        }
    }
    const auto at = in.return_path.rfind('@');
    const std::string_view rp_domain =
        at == std::string_view::npos ? std::string_view() : in.return_path.substr(at + 1);
    const bool rp_aligns = domains_align(rp_domain, in.from_domain, mode, org);
    p.spf_aligned = rp_aligns && !in.spf_fails;
    if (p.dkim_aligned || p.spf_aligned) {
        p.outcome = DmarcPrediction::Outcome::Pass;
        p.log = "pass(";
        if (p.dkim_aligned) {
            p.log += "dkim=" + dkim;
        }
        if (p.spf_aligned) {
            p.log += std::string(p.dkim_aligned ? "," : "") + "spf=" + ascii_lower(rp_domain);
        }
        p.log += ")";
        return p;
    }
    p.outcome = DmarcPrediction::Outcome::Fail;
    p.log = "fail(from=" + std::string(in.from_domain) + ",d=";
    if (in.dkim_domains.empty()) {
        p.log += "none";
    }
    for (std::size_t i = 0; i < in.dkim_domains.size(); ++i) {
        p.log += (i == 0 ? "" : "+") + in.dkim_domains[i];
    }
    p.log += ",rp=" + (rp_domain.empty() ? std::string("<>") : ascii_lower(rp_domain));
    if (rp_aligns && in.spf_fails) {
        p.log += ":spf-fails";
    }
    p.log += ")";
    return p;
}

}  // namespace staffel::core
