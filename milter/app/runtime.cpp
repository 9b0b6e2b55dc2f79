// runtime.cpp - see runtime.hpp.
#include "app/runtime.hpp"

#include "adapters/openssl/dkim_keys.hpp"

#include "core/endpoints.hpp"

namespace staffel::app {

void InFlightCounter::begin() {
    std::lock_guard lock(mu_);
    ++count_;
}

void InFlightCounter::end() {
    std::lock_guard lock(mu_);
    if (count_ > 0 && --count_ == 0) {
        idle_.notify_all();
    }
}

std::size_t InFlightCounter::wait_idle(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    idle_.wait_for(lock, limit, [this] { return count_ == 0; });
    return count_;
}

config::LoadResult load_with_overrides(const std::string& path, const Overrides& overrides) {
    auto result = config::load_policy(path, adapters::load_signing_key);
    if (!result.policy) {
        return result;
    }
    if (!overrides.socket && !overrides.redis) {
        return result;
    }
    core::Policy policy = *result.policy;
    if (overrides.socket) {
        auto s = core::parse_milter_socket(*overrides.socket);
        if (!s) {
            result.errors.push_back({"--socket", 0, 0, "", s.error().message});
        } else {
            policy.milter.socket = *s;
        }
    }
    if (overrides.redis) {
        auto a = core::parse_redis_address(*overrides.redis);
        if (!a) {
            result.errors.push_back({"--redis", 0, 0, "", a.error().message});
        } else {
            policy.redis.address = *a;
        }
    }
    result.policy =
        result.errors.empty() ? std::make_shared<const core::Policy>(std::move(policy)) : nullptr;
    return result;
}

}  // namespace staffel::app
