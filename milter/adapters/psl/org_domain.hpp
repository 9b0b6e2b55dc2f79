// org_domain.hpp - organisational domains from the Public Suffix List (libpsl).
//
// Purpose: DMARC relaxed alignment compares organisational domains
//   (RFC 7489 §3.2): the registrable domain, one label below the longest
//   public suffix. libpsl answers that from the list Debian ships in the
//   publicsuffix package (/usr/share/publicsuffix), or from its own
//   built-in copy when that file is missing, whichever is newer. This is
//   the core::OrgDomainFn that staffeld and staffelctl use.
// Thread-safety: the list is loaded once and only read afterwards;
//   org_domain() may be called from any thread.
// Errors: a list that cannot be loaded is a Result error from load().
// Outside input: the domain comes from the From: header, lower-cased by
//   the caller; anything libpsl cannot place gives "".
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/route/dmarc.hpp"

namespace staffel::adapters {

class PublicSuffixList {
  public:
    // The newest of Debian's list and libpsl's built-in one.
    static core::Result<std::shared_ptr<const PublicSuffixList>> load();
    ~PublicSuffixList();
    PublicSuffixList(const PublicSuffixList&) = delete;
    PublicSuffixList& operator=(const PublicSuffixList&) = delete;

    // "mail.example.co.uk" -> "example.co.uk"; "co.uk" -> "".
    [[nodiscard]] std::string org_domain(std::string_view domain) const;
    // A core::OrgDomainFn that keeps the list alive.
    [[nodiscard]] static core::OrgDomainFn function(std::shared_ptr<const PublicSuffixList> list);

  private:
    struct Impl;
    explicit PublicSuffixList(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace staffel::adapters
