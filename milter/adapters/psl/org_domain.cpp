// org_domain.cpp - see org_domain.hpp.
#include "adapters/psl/org_domain.hpp"

#include <libpsl.h>

#include <utility>

namespace staffel::adapters {

struct PublicSuffixList::Impl {
    const psl_ctx_t* ctx = nullptr;
    bool owned = false;  // psl_latest() allocates; psl_builtin() is static
    ~Impl() {
        if (owned) {
            psl_free(const_cast<psl_ctx_t*>(ctx));
        }
    }
};

PublicSuffixList::PublicSuffixList(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PublicSuffixList::~PublicSuffixList() = default;

core::Result<std::shared_ptr<const PublicSuffixList>> PublicSuffixList::load() {
    auto impl = std::make_unique<Impl>();
    // nullptr: the distribution's file (PSL_DISTFILE), if newer than the built-in list.
    if (psl_ctx_t* latest = psl_latest(nullptr); latest != nullptr) {
        impl->ctx = latest;
        impl->owned = true;
    } else {
        impl->ctx = psl_builtin();
    }
    if (impl->ctx == nullptr) {
        return core::make_error(
            "cannot load the Public Suffix List (install Debian's publicsuffix package)");
    }
    return std::shared_ptr<const PublicSuffixList>(new PublicSuffixList(std::move(impl)));
}

std::string PublicSuffixList::org_domain(std::string_view domain) const {
    if (domain.empty() || domain.size() > 253 || domain.find('\0') != std::string_view::npos) {
        return {};
    }
    const std::string d(domain);
    const char* registrable = psl_registrable_domain(impl_->ctx, d.c_str());
    return registrable == nullptr ? std::string() : std::string(registrable);
}

core::OrgDomainFn PublicSuffixList::function(std::shared_ptr<const PublicSuffixList> list) {
    return [list = std::move(list)](std::string_view domain) { return list->org_domain(domain); };
}

}  // namespace staffel::adapters
