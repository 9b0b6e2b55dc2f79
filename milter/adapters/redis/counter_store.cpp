// counter_store.cpp - see counter_store.hpp.
#include "adapters/redis/counter_store.hpp"

#include <hiredis/hiredis.h>

#include <stdexcept>
#include <string_view>
#include <utility>

#include "adapters/redis/redis_settings.hpp"

namespace staffel::adapters {
namespace {

using core::CounterCharge;

// Each counter is 5 ARGV fields; see scripts/quota_charge.lua.
constexpr std::size_t kFieldsPerCounter = 5;

// An array of `count` integers.
bool is_integer_array(const redisReply& r, std::size_t count) {
    if (r.type != REDIS_REPLY_ARRAY || r.elements != count) {
        return false;
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (r.element[i] == nullptr || r.element[i]->type != REDIS_REPLY_INTEGER) {
            return false;
        }
    }
    return true;
}

std::int64_t integer_at(const redisReply& r, std::size_t i) {
    return static_cast<std::int64_t>(r.element[i]->integer);
}

// ARGV for one counter: kind, amount, enforce, then limit, expire_at_ms
// (window) or interval_us, burst (gcra).
void append_fields(std::vector<std::string>& argv, const CounterCharge& c, bool with_amount) {
    const bool window = c.kind == CounterCharge::Kind::Window;
    argv.emplace_back(window ? "window" : "gcra");
    argv.push_back(with_amount ? std::to_string(c.amount) : "0");
    argv.emplace_back(c.enforce ? "1" : "0");
    argv.push_back(std::to_string(window ? c.limit : c.interval_us));
    argv.push_back(std::to_string(window ? c.expire_at_ms : c.burst));
}

}  // namespace

RedisCounterStore::RedisCounterStore(RedisOptions options, ReplicaWait wait)
    : pool_(named(std::move(options), "quota store")),
      wait_(wait),
      scripts_{embedded_script("quota_charge.lua"), embedded_script("quota_refund.lua"),
               embedded_script("quota_read.lua")} {}

RedisCounterStore::~RedisCounterStore() = default;

core::Error RedisCounterStore::fail(core::Error error) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    return error;
}

core::Result<RedisReplyPtr> RedisCounterStore::eval(Which which,
                                                    std::span<const CounterCharge> counters) {
    const Script& script = scripts_[static_cast<std::size_t>(which)];
    std::vector<std::string> argv;
    argv.reserve(3 + counters.size() * (1 + kFieldsPerCounter));
    argv.push_back(std::to_string(counters.size()));
    for (const auto& c : counters) {
        argv.push_back(c.key);
    }
    for (const auto& c : counters) {
        append_fields(argv, c, which != Which::Read);
    }

    auto lease = pool_.acquire();
    if (!lease) {
        return fail(lease.error());
    }
    auto reply = which == Which::Charge && wait_.replicas > 0
                     ? eval_and_wait(lease.value(), script, std::move(argv))
                     : lease.value().eval_script(script, std::move(argv), script_loads_);
    if (!reply) {
        return fail(reply.error());
    }
    if (reply.value()->type == REDIS_REPLY_ERROR) {
        return fail(pool_.error(script.name + ": " + std::string(reply_text(*reply.value()))));
    }
    return reply;
}

// EVALSHA and WAIT in one round trip; on NOSCRIPT, EVAL and WAIT in a
// second. An error reply of the script is returned as such (eval() reports
// it); a WAIT that falls short is an error.
core::Result<RedisReplyPtr> RedisCounterStore::eval_and_wait(RedisPool::Lease& lease,
                                                             const Script& script,
                                                             std::vector<std::string> args) {
    const std::vector<std::string> wait{"WAIT", std::to_string(wait_.replicas),
                                        std::to_string(wait_.timeout.count())};
    args.insert(args.begin(), {std::string("EVALSHA"), script.sha1});
    for (int attempt = 0;; ++attempt) {
        lease.append(args);
        lease.append(wait);
        auto reply = lease.reply();
        if (!reply) {
            // Sent, but its answer lost: a primary that dies between running
            // the script (and replicating it) and writing the answer leaves
            // the charge counted on the replica it hands over to.
            return core::make_error(reply.error().message +
                                    " (the charge's answer was lost: it may be counted, "
                                    "unconfirmed)");
        }
        auto acked = lease.reply();
        if (!acked) {
            // The script may have charged (and even replicated): it stays
            // counted, unconfirmed.
            return core::make_error(acked.error().message +
                                    " (WAIT after the charge: counted, unconfirmed)");
        }
        const redisReply& r = *reply.value();
        if (attempt == 0 && r.type == REDIS_REPLY_ERROR && reply_text(r).starts_with("NOSCRIPT")) {
            script_loads_.fetch_add(1, std::memory_order_relaxed);
            args[0] = "EVAL";
            args[1] = script.source;
            continue;
        }
        if (r.type == REDIS_REPLY_ERROR) {
            return reply;
        }
        const redisReply& w = *acked.value();
        if (w.type != REDIS_REPLY_INTEGER) {
            return pool_.error("WAIT: " + (w.type == REDIS_REPLY_ERROR
                                               ? std::string(reply_text(w))
                                               : std::string("unexpected reply")));
        }
        if (w.integer < static_cast<long long>(wait_.replicas)) {
            return pool_.error("WAIT: " + std::to_string(w.integer) + " of " +
                               std::to_string(wait_.replicas) +
                               " replicas acknowledged the charge within " +
                               std::to_string(wait_.timeout.count()) + "ms");
        }
        return reply;
    }
}

core::Result<core::ChargeOutcome> RedisCounterStore::charge(
    std::span<const CounterCharge> charges) {
    core::ChargeOutcome outcome;
    if (charges.empty()) {
        outcome.admitted = true;
        return outcome;
    }
    auto reply = eval(Which::Charge, charges);
    if (!reply) {
        return reply.error();
    }
    const redisReply& r = *reply.value();
    if (!is_integer_array(r, 2 + 3 * charges.size())) {
        return fail(pool_.error("quota_charge.lua: unexpected reply"));
    }
    outcome.admitted = integer_at(r, 0) == 1;
    const std::int64_t now_us = integer_at(r, 1);
    outcome.counters.reserve(charges.size());
    for (std::size_t i = 0; i < charges.size(); ++i) {
        core::CounterState s;
        s.admits = integer_at(r, 2 + 3 * i) == 1;
        s.used = integer_at(r, 3 + 3 * i);
        s.retry_at_us = integer_at(r, 4 + 3 * i);
        s.now_us = now_us;
        outcome.counters.push_back(s);
    }
    return outcome;
}

core::Result<bool> RedisCounterStore::refund(std::span<const CounterCharge> charges) {
    if (charges.empty()) {
        return true;
    }
    auto reply = eval(Which::Refund, charges);
    if (!reply) {
        return reply.error();
    }
    const redisReply& r = *reply.value();
    if (r.type != REDIS_REPLY_INTEGER) {
        return fail(pool_.error("quota_refund.lua: unexpected reply"));
    }
    return static_cast<std::size_t>(r.integer) == charges.size();
}

core::Result<std::vector<core::CounterState>> RedisCounterStore::read(
    std::span<const CounterCharge> counters) {
    std::vector<core::CounterState> states;
    if (counters.empty()) {
        return states;
    }
    auto reply = eval(Which::Read, counters);
    if (!reply) {
        return reply.error();
    }
    const redisReply& r = *reply.value();
    if (!is_integer_array(r, 1 + counters.size())) {
        return fail(pool_.error("quota_read.lua: unexpected reply"));
    }
    const std::int64_t now_us = integer_at(r, 0);
    states.reserve(counters.size());
    for (std::size_t i = 0; i < counters.size(); ++i) {
        core::CounterState s;
        s.used = integer_at(r, 1 + i);
        s.now_us = now_us;
        states.push_back(s);
    }
    return states;
}

core::Result<std::size_t> RedisCounterStore::reset(std::span<const std::string> keys) {
    if (keys.empty()) {
        return std::size_t{0};
    }
    std::vector<std::string> argv;
    argv.reserve(1 + keys.size());
    argv.emplace_back("UNLINK");
    argv.insert(argv.end(), keys.begin(), keys.end());
    auto reply = pool_.command(argv);
    if (!reply) {
        return fail(reply.error());
    }
    const redisReply& r = *reply.value();
    if (r.type == REDIS_REPLY_ERROR) {
        return fail(pool_.error("UNLINK: " + std::string(reply_text(r))));
    }
    if (r.type != REDIS_REPLY_INTEGER || r.integer < 0) {
        return fail(pool_.error("UNLINK: unexpected reply"));
    }
    return static_cast<std::size_t>(r.integer);
}

}  // namespace staffel::adapters
