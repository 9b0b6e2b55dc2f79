// runtime.cpp - see runtime.hpp.
#include "app/runtime.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "adapters/openssl/dkim_keys.hpp"
#include "adapters/redis/counter_store.hpp"
#include "adapters/redis/redis_settings.hpp"
#include "adapters/redis/suppression_store.hpp"
#include "adapters/redis/suppression_view.hpp"
#include "adapters/spf2/spf_checker.hpp"
#include "app/exit_codes.hpp"
#include "core/endpoints.hpp"
#include "core/units.hpp"

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

std::unique_ptr<core::CounterStore> make_counter_store(const core::RedisSettings& redis) {
    return std::make_unique<adapters::RedisCounterStore>(
        adapters::redis_options(redis),
        adapters::ReplicaWait{redis.wait_replicas, redis.wait_timeout});
}

std::unique_ptr<core::SuppressionStore> make_suppression_store(const core::RedisSettings& redis) {
    return std::make_unique<adapters::RedisSuppressionStore>(
        adapters::redis_options(redis),
        adapters::SuppressionChanges{core::SuppressionKeys(redis.prefix).changes_key()});
}

std::unique_ptr<core::SuppressionStore> make_viewed_suppression_store(
    const SuppressionStoreSettings& settings) {
    if (!settings.view.enabled) {
        return make_suppression_store(settings.redis);
    }
    const core::SuppressionKeys keys(settings.redis.prefix);
    adapters::SuppressionViewOptions view;
    view.pattern = keys.scan_pattern();
    view.poll = settings.view.poll;
    view.max_lag = settings.view.max_lag;
    view.rescan = settings.view.rescan;
    return std::make_unique<adapters::ViewedSuppressionStore>(
        adapters::redis_options(settings.redis), adapters::SuppressionChanges{keys.changes_key()},
        std::move(view));
}

LazySpfChecker::~LazySpfChecker() = default;

core::Result<core::SpfAnswer> LazySpfChecker::check(const core::SpfQuery& query) {
    std::call_once(once_, [this] {
        try {
            adapters::Spf2Options o;
            o.timeout = timeout_;
            checker_ = std::make_unique<adapters::Spf2Checker>(o);
        } catch (const std::exception& e) {
            failure_ = std::string("cannot start the SPF checker: ") + e.what();
        }
    });
    if (!checker_) {
        return core::make_error(failure_);
    }
    return checker_->check(query);
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

std::shared_ptr<const core::Policy> load_policy_or_report(const std::string& path,
                                                          const config::KeyLoader& load_key,
                                                          std::ostream& err) {
    auto loaded = config::load_policy(path, load_key);
    if (!loaded.policy) {
        for (const auto& e : loaded.errors) {
            err << e.to_string() << '\n';
        }
    }
    return loaded.policy;
}

std::optional<std::string> read_input(const std::string& path, std::size_t max_bytes,
                                      std::string_view command, std::ostream& err, int& exit_code,
                                      std::string_view limit_name) {
    std::ifstream file;
    if (path != "-") {
        file.open(path, std::ios::binary);
        if (!file) {
            err << "staffelctl: " << command << ": cannot read " << path << ": "
                << std::strerror(errno) << '\n';
            exit_code = kExitNoInput;
            return std::nullopt;
        }
    }
    std::istream& in = path == "-" ? std::cin : file;
    std::string data;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        data.append(buf, static_cast<std::size_t>(in.gcount()));
        if (data.size() > max_bytes) {
            err << "staffelctl: " << command << ": " << (path == "-" ? "the input" : path)
                << " is larger than " << core::format_size(max_bytes);
            if (!limit_name.empty()) {
                err << " (" << limit_name << ")";
            }
            err << "; refused before parsing\n";
            exit_code = kExitDataErr;
            return std::nullopt;
        }
    }
    return data;
}

}  // namespace staffel::app
