// suppression_store.cpp - see suppression_store.hpp.
#include "adapters/redis/suppression_store.hpp"

#include <hiredis/hiredis.h>

#include <ctime>
#include <stdexcept>
#include <utility>

#include "adapters/redis/redis_settings.hpp"

namespace staffel::adapters {
namespace {

constexpr std::string_view kSoftBounceScript = "suppress_soft_bounce.lua";

bool expired(const core::SuppressionEntry& e, std::int64_t now) {
    return e.expires_at != 0 && e.expires_at <= now;
}

core::Error expired_error(const core::SuppressionEntry& e, std::int64_t now) {
    return core::make_error("the entry expired already (expires_at " +
                            std::to_string(e.expires_at) + ", now " + std::to_string(now) +
                            "); nothing was written");
}

// A string or nil element of an MGET reply; false for anything else.
bool is_value(const redisReply* r) {
    return r != nullptr && (r->type == REDIS_REPLY_NIL || r->type == REDIS_REPLY_STRING);
}

}  // namespace

RedisSuppressionStore::RedisSuppressionStore(RedisOptions options, SuppressionChanges changes,
                                             Clock clock)
    : pool_(named(std::move(options), "suppression store")),
      changes_(std::move(changes)),
      clock_(std::move(clock)),
      script_(embedded_script(kSoftBounceScript)) {}

RedisSuppressionStore::~RedisSuppressionStore() = default;

core::Error RedisSuppressionStore::fail(core::Error error) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    return error;
}

std::int64_t RedisSuppressionStore::now() const {
    return clock_ ? clock_() : static_cast<std::int64_t>(::time(nullptr));
}

void RedisSuppressionStore::set_argv(std::vector<std::string>& argv, const std::string& key,
                                     const core::SuppressionEntry& entry) {
    argv.resize(entry.expires_at != 0 ? 5 : 3);
    argv[0] = "SET";
    argv[1] = key;
    argv[2] = core::encode_entry_value(entry);
    if (entry.expires_at != 0) {
        argv[3] = "EXAT";
        argv[4] = std::to_string(entry.expires_at);
    }
}

void RedisSuppressionStore::xadd_argv(std::vector<std::string>& argv,
                                      const std::string& key) const {
    argv = {"XADD", changes_.key, "MAXLEN", "~", std::to_string(changes_.max_length),
            "*",    "k",          key};
}

core::Result<RedisReplyPtr> RedisSuppressionStore::transaction(
    RedisPool::Lease& lease, const std::vector<std::vector<std::string>>& commands) {
    static const std::vector<std::string> kMulti{"MULTI"};
    static const std::vector<std::string> kExec{"EXEC"};
    lease.append(kMulti);
    for (const auto& c : commands) {
        lease.append(c);
    }
    lease.append(kExec);
    // Every reply is read, even after an error, so the connection stays in
    // step; the first error reply names what went wrong.
    std::string refused;
    RedisReplyPtr exec;
    for (std::size_t i = 0; i < commands.size() + 2; ++i) {
        auto reply = lease.reply();
        if (!reply) {
            return fail(reply.error());
        }
        const redisReply& r = *reply.value();
        if (r.type == REDIS_REPLY_ERROR && refused.empty()) {
            refused = std::string(i == 0                 ? "MULTI"
                                  : i <= commands.size() ? commands[i - 1][0]
                                                         : "EXEC") +
                      ": " + std::string(reply_text(r));
        }
        if (i == commands.size() + 1) {
            exec = std::move(reply).value();
        }
    }
    if (exec->type != REDIS_REPLY_ARRAY) {
        return fail(pool_.error(refused.empty() ? "EXEC: unexpected reply" : refused));
    }
    if (exec->elements != commands.size()) {
        return fail(pool_.error("EXEC: unexpected reply"));
    }
    for (std::size_t i = 0; i < exec->elements; ++i) {
        if (exec->element[i] == nullptr) {
            return fail(pool_.error("EXEC: unexpected reply"));
        }
    }
    return exec;
}

core::Result<std::vector<std::optional<core::SuppressionEntry>>> RedisSuppressionStore::lookup(
    std::span<const std::string> keys) {
    std::vector<std::optional<core::SuppressionEntry>> found;
    if (keys.empty()) {
        return found;
    }
    std::vector<std::string> argv;
    argv.reserve(1 + keys.size());
    argv.emplace_back("MGET");
    argv.insert(argv.end(), keys.begin(), keys.end());
    auto reply = pool_.command(argv);
    if (!reply) {
        return fail(reply.error());
    }
    const redisReply& r = *reply.value();
    if (r.type == REDIS_REPLY_ERROR) {
        return fail(pool_.error("MGET: " + std::string(reply_text(r))));
    }
    if (r.type != REDIS_REPLY_ARRAY || r.elements != keys.size()) {
        return fail(pool_.error("MGET: unexpected reply"));
    }
    const std::int64_t t = now();
    found.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const redisReply* v = r.element[i];
        if (!is_value(v)) {
            return fail(pool_.error("MGET: unexpected reply"));
        }
        if (v->type == REDIS_REPLY_NIL) {
            found.emplace_back();
            continue;
        }
        auto e = core::decode_entry_value(reply_text(*v));
        if (!e) {
            return fail(pool_.error(keys[i] + ": " + e.error().message));
        }
        if (expired(*e, t)) {
            found.emplace_back();
        } else {
            found.emplace_back(std::move(e).value());
        }
    }
    return found;
}

core::Result<bool> RedisSuppressionStore::put(const std::string& key,
                                              const core::SuppressionEntry& entry) {
    if (const auto t = now(); expired(entry, t)) {
        return expired_error(entry, t);
    }
    std::vector<std::string> argv;
    set_argv(argv, key, entry);
    argv.emplace_back("GET");  // the old value, if any: did this replace an entry?
    RedisReplyPtr owner;       // the reply that holds `set`
    const redisReply* set = nullptr;
    if (changes_.key.empty()) {
        auto reply = pool_.command(argv);
        if (!reply) {
            return fail(reply.error());
        }
        owner = std::move(reply).value();
        set = owner.get();
    } else {
        std::vector<std::vector<std::string>> commands(2);
        commands[0] = std::move(argv);
        xadd_argv(commands[1], key);
        auto lease = pool_.acquire();
        if (!lease) {
            return fail(lease.error());
        }
        auto exec = transaction(lease.value(), commands);
        if (!exec) {
            return exec.error();
        }
        owner = std::move(exec).value();
        set = owner->element[0];
        const redisReply& xadd = *owner->element[1];
        if (set->type != REDIS_REPLY_ERROR && xadd.type != REDIS_REPLY_STRING) {
            return fail(
                pool_.error("XADD " + changes_.key + ": " +
                            std::string(xadd.type == REDIS_REPLY_ERROR ? reply_text(xadd)
                                                                       : "unexpected reply") +
                            "; " + key +
                            " was stored but not announced: other nodes see it after "
                            "their next rescan"));
        }
    }
    const redisReply& r = *set;
    if (r.type == REDIS_REPLY_ERROR) {
        return fail(pool_.error("SET " + key + ": " + std::string(reply_text(r))));
    }
    if (r.type == REDIS_REPLY_NIL) {
        return false;
    }
    if (r.type == REDIS_REPLY_STRING) {
        return true;
    }
    return fail(pool_.error("SET: unexpected reply"));
}

core::Result<bool> RedisSuppressionStore::remove(const std::string& key) {
    const std::string argv[] = {"UNLINK", key};
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
    return r.integer > 0;
}

core::Result<core::SoftBounceOutcome> RedisSuppressionStore::count_soft_bounce(
    const std::string& counter_key, std::int64_t window_seconds, std::int64_t limit,
    const std::string& entry_key, const core::SuppressionEntry& entry) {
    if (const auto t = now(); expired(entry, t)) {
        return expired_error(entry, t);
    }
    std::vector<std::string> argv{"2",
                                  counter_key,
                                  entry_key,
                                  std::to_string(window_seconds),
                                  std::to_string(limit),
                                  core::encode_entry_value(entry),
                                  std::to_string(entry.expires_at)};
    if (!changes_.key.empty()) {  // KEYS[3] and ARGV[5]: announce the entry
        argv[0] = "3";
        argv.insert(argv.begin() + 3, changes_.key);
        argv.push_back(std::to_string(changes_.max_length));
    }
    auto lease = pool_.acquire();
    if (!lease) {
        return fail(lease.error());
    }
    auto reply = lease.value().eval_script(script_, std::move(argv), script_loads_);
    if (!reply) {
        return fail(reply.error());
    }
    const redisReply& r = *reply.value();
    if (r.type == REDIS_REPLY_ERROR) {
        return fail(pool_.error(script_.name + ": " + std::string(reply_text(r))));
    }
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 || r.element[0] == nullptr ||
        r.element[1] == nullptr || r.element[0]->type != REDIS_REPLY_INTEGER ||
        r.element[1]->type != REDIS_REPLY_INTEGER) {
        return fail(pool_.error(script_.name + ": unexpected reply"));
    }
    core::SoftBounceOutcome outcome;
    outcome.count = static_cast<std::int64_t>(r.element[0]->integer);
    outcome.suppressed = r.element[1]->integer == 1;
    return outcome;
}

core::Result<std::size_t> RedisSuppressionStore::put_many(
    std::span<const core::KeyedEntry> entries) {
    std::size_t written = 0;
    if (entries.empty()) {
        return written;
    }
    auto lease = pool_.acquire();
    if (!lease) {
        return fail(lease.error());
    }
    const std::int64_t t = now();
    if (!changes_.key.empty()) {
        return put_many_announced(lease.value(), entries, t);
    }
    std::vector<std::string> argv;
    std::size_t next = 0;
    while (next < entries.size()) {
        std::size_t queued = 0;
        for (; next < entries.size() && queued < kBatch; ++next) {
            const auto& row = entries[next];
            if (expired(row.entry, t)) {
                continue;
            }
            set_argv(argv, row.key, row.entry);
            lease.value().append(argv);
            ++queued;
        }
        // Every queued reply is read, even after an error reply, so the
        // connection stays in step.
        for (std::size_t i = 0; i < queued; ++i) {
            auto reply = lease.value().reply();
            if (!reply) {
                return fail(reply.error());
            }
            const redisReply& r = *reply.value();
            if (r.type == REDIS_REPLY_STATUS && reply_text(r) == "OK") {
                ++written;
            } else {
                errors_.fetch_add(1, std::memory_order_relaxed);
            }
        }
    }
    return written;
}

// Each batch is one transaction of SET, XADD pairs: a row is written and
// announced together, or (the whole batch refused) not at all.
core::Result<std::size_t> RedisSuppressionStore::put_many_announced(
    RedisPool::Lease& lease, std::span<const core::KeyedEntry> entries, std::int64_t t) {
    std::size_t written = 0;
    std::size_t unannounced = 0;
    std::string why;
    std::vector<std::vector<std::string>> commands;
    std::size_t next = 0;
    while (next < entries.size()) {
        commands.clear();
        for (; next < entries.size() && commands.size() < 2 * kBatch; ++next) {
            const auto& row = entries[next];
            if (expired(row.entry, t)) {
                continue;
            }
            commands.emplace_back();
            set_argv(commands.back(), row.key, row.entry);
            commands.emplace_back();
            xadd_argv(commands.back(), row.key);
        }
        if (commands.empty()) {
            break;
        }
        auto exec = transaction(lease, commands);
        if (!exec) {
            return exec.error();
        }
        const redisReply& r = *exec.value();
        for (std::size_t i = 0; i + 1 < r.elements; i += 2) {
            const redisReply& set = *r.element[i];
            const redisReply& xadd = *r.element[i + 1];
            if (set.type != REDIS_REPLY_STATUS || reply_text(set) != "OK") {
                errors_.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            ++written;
            if (xadd.type != REDIS_REPLY_STRING) {
                ++unannounced;
                if (why.empty()) {
                    why = xadd.type == REDIS_REPLY_ERROR ? std::string(reply_text(xadd))
                                                         : "unexpected reply";
                }
            }
        }
    }
    if (unannounced > 0) {
        return fail(pool_.error("XADD " + changes_.key + ": " + why + "; " +
                                std::to_string(unannounced) + " of " + std::to_string(written) +
                                " entries were stored but not announced: other nodes see them "
                                "after their next rescan"));
    }
    return written;
}

core::Result<std::size_t> RedisSuppressionStore::scan(std::string_view pattern,
                                                      const Visitor& visit) {
    auto lease = pool_.acquire();
    if (!lease) {
        return fail(lease.error());
    }
    const std::int64_t t = now();
    std::size_t visited = 0;
    std::vector<std::string> mget{"MGET"};
    auto failed = lease.value().scan(
        pattern, kBatch, [&](std::span<const std::string_view> keys) -> std::optional<core::Error> {
            if (keys.empty()) {
                return std::nullopt;
            }
            mget.resize(1);
            mget.insert(mget.end(), keys.begin(), keys.end());
            auto values = lease.value().command(mget);
            if (!values) {
                return values.error();
            }
            const redisReply& v = *values.value();
            if (v.type == REDIS_REPLY_ERROR) {
                return pool_.error("MGET: " + std::string(reply_text(v)));
            }
            if (v.type != REDIS_REPLY_ARRAY || v.elements != mget.size() - 1) {
                return pool_.error("MGET: unexpected reply");
            }
            for (std::size_t i = 0; i < v.elements; ++i) {
                const redisReply* value = v.element[i];
                if (!is_value(value)) {
                    return pool_.error("MGET: unexpected reply");
                }
                if (value->type == REDIS_REPLY_NIL) {
                    continue;  // deleted (or expired) since SCAN named it
                }
                auto decoded = core::decode_entry_value(reply_text(*value));
                if (decoded && expired(*decoded, t)) {
                    continue;
                }
                visit(mget[i + 1], decoded);
                ++visited;
            }
            return std::nullopt;
        });
    if (failed) {
        return fail(*failed);
    }
    return visited;
}

}  // namespace staffel::adapters
