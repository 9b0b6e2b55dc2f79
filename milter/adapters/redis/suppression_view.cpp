// suppression_view.cpp - see suppression_view.hpp.
#include "adapters/redis/suppression_view.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "adapters/redis/redis_settings.hpp"

namespace staffel::adapters {
namespace {

// The id of a stream entry ([id, [field, value, ...]]), or "" if malformed.
std::string_view entry_id(const redisReply* e) {
    if (e == nullptr || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0] == nullptr || e->element[0]->type != REDIS_REPLY_STRING) {
        return {};
    }
    return reply_text(*e->element[0]);
}

// The fields of a stream entry, checked: an array of strings, in pairs.
const redisReply* entry_fields(const redisReply* e) {
    const redisReply* f = e->element[1];
    if (f == nullptr || f->type != REDIS_REPLY_ARRAY || f->elements % 2 != 0) {
        return nullptr;
    }
    for (std::size_t i = 0; i < f->elements; ++i) {
        if (f->element[i] == nullptr || f->element[i]->type != REDIS_REPLY_STRING) {
            return nullptr;
        }
    }
    return f;
}

RedisOptions one_connection(RedisOptions options) {
    options.pool_size = 1;
    return named(std::move(options), "suppression view");
}

std::string ms(std::chrono::steady_clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

}  // namespace

SuppressionViewStats& suppression_view_stats() noexcept {
    static SuppressionViewStats stats;
    return stats;
}

ViewedSuppressionStore::ViewedSuppressionStore(RedisOptions options, SuppressionChanges changes,
                                               SuppressionViewOptions view)
    : store_(options, std::move(changes)),
      sync_pool_(one_connection(std::move(options))),
      view_(std::move(view)),
      stats_(view_.stats != nullptr ? *view_.stats : suppression_view_stats()) {}

ViewedSuppressionStore::~ViewedSuppressionStore() {
    {
        std::lock_guard lock(stop_mu_);
        stop_ = true;
    }
    stop_cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void ViewedSuppressionStore::start_thread() {
    if (view_.poll.count() <= 0) {
        return;
    }
    std::call_once(started_, [this] { thread_ = std::thread([this] { run(); }); });
}

void ViewedSuppressionStore::run() {
    std::unique_lock lock(stop_mu_);
    while (!stop_) {
        lock.unlock();
        (void)sync();
        lock.lock();
        stop_cv_.wait_for(lock, view_.poll, [this] { return stop_; });
    }
}

bool ViewedSuppressionStore::fresh() const {
    std::lock_guard lock(mu_);
    return filter_ && Clock::now() - synced_at_ <= view_.max_lag;
}

core::Result<std::vector<std::optional<core::SuppressionEntry>>> ViewedSuppressionStore::lookup(
    std::span<const std::string> keys) {
    start_thread();
    std::shared_ptr<const core::BloomFilter> filter;
    {
        std::lock_guard lock(mu_);
        if (filter_ && Clock::now() - synced_at_ <= view_.max_lag) {
            filter = filter_;
        }
    }
    if (!filter) {
        stats_.fallback.fetch_add(1, std::memory_order_relaxed);
        return store_.lookup(keys);
    }
    for (const auto& k : keys) {
        if (filter->may_contain(k)) {
            stats_.confirmed.fetch_add(1, std::memory_order_relaxed);
            return store_.lookup(keys);
        }
    }
    stats_.local.fetch_add(1, std::memory_order_relaxed);
    return std::vector<std::optional<core::SuppressionEntry>>(keys.size());
}

// This node's own writes are in its view at once; other nodes read them
// from the stream.
core::Result<bool> ViewedSuppressionStore::put(const std::string& key,
                                               const core::SuppressionEntry& entry) {
    auto r = store_.put(key, entry);
    std::lock_guard lock(mu_);
    if (filter_) {
        filter_->add(key);
    }
    return r;
}

core::Result<core::SoftBounceOutcome> ViewedSuppressionStore::count_soft_bounce(
    const std::string& counter_key, std::int64_t window_seconds, std::int64_t limit,
    const std::string& entry_key, const core::SuppressionEntry& entry) {
    auto r = store_.count_soft_bounce(counter_key, window_seconds, limit, entry_key, entry);
    if (r && r->suppressed) {
        std::lock_guard lock(mu_);
        if (filter_) {
            filter_->add(entry_key);
        }
    }
    return r;
}

core::Result<std::size_t> ViewedSuppressionStore::put_many(
    std::span<const core::KeyedEntry> entries) {
    auto r = store_.put_many(entries);
    std::lock_guard lock(mu_);
    if (filter_) {
        for (const auto& row : entries) {
            filter_->add(row.key);
        }
    }
    return r;
}

core::Result<bool> ViewedSuppressionStore::sync() {
    core::Result<bool> result = true;
    if (!must_rebuild_ && view_.rescan.count() > 0 && Clock::now() - built_at_ >= view_.rescan) {
        result = rebuild("the periodic rescan");
    } else if (must_rebuild_) {
        result = rebuild(ever_built_ ? "the changes stream lost entries it had not read"
                                     : "the first lookup");
    } else {
        std::shared_ptr<core::BloomFilter> filter;
        {
            std::lock_guard lock(mu_);
            filter = filter_;
        }
        if (filter->over_capacity()) {
            result = rebuild("the filter holds more keys than it was sized for");
        } else {
            Clock::time_point sent;
            auto read = read_changes(*filter, sent);
            if (!read) {
                result = read.error();
            } else if (*read == Read::Lost) {
                must_rebuild_ = true;
                result = rebuild("the changes stream lost entries it had not read");
            } else {
                std::lock_guard lock(mu_);
                synced_at_ = std::max(synced_at_, sent);
            }
        }
    }
    if (!result) {
        stats_.failures.fetch_add(1, std::memory_order_relaxed);
    }
    note_state(fresh(), result ? std::string() : result.error().message);
    return result;
}

core::Result<ViewedSuppressionStore::Read> ViewedSuppressionStore::read_changes(
    core::BloomFilter& filter, Clock::time_point& sent) {
    auto lease = sync_pool_.acquire();
    if (!lease) {
        return lease.error();
    }
    sent = Clock::now();
    std::vector<std::string> argv{"XRANGE", store_.changes().key,      last_id_, "+",
                                  "COUNT",  std::to_string(kReadCount)};
    for (;;) {
        auto reply = lease.value().command(argv);
        if (!reply) {
            return reply.error();
        }
        const redisReply& r = *reply.value();
        if (r.type == REDIS_REPLY_ERROR) {
            return sync_pool_.error("XRANGE " + store_.changes().key + ": " +
                                    std::string(reply_text(r)));
        }
        if (r.type != REDIS_REPLY_ARRAY) {
            return sync_pool_.error("XRANGE: unexpected reply");
        }
        // The first entry must be the last one read: else the stream was
        // trimmed past it or deleted, and entries may be lost.
        if (r.elements == 0 || entry_id(r.element[0]) != last_id_) {
            return Read::Lost;
        }
        for (std::size_t i = 1; i < r.elements; ++i) {
            const auto id = entry_id(r.element[i]);
            const redisReply* fields = id.empty() ? nullptr : entry_fields(r.element[i]);
            if (fields == nullptr) {
                return sync_pool_.error("XRANGE: unexpected reply");
            }
            for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
                if (reply_text(*fields->element[f]) == "k") {
                    const auto key = reply_text(*fields->element[f + 1]);
                    if (!key.empty()) {
                        filter.add(key);
                    }
                }
            }
            last_id_ = std::string(id);
        }
        if (r.elements < kReadCount) {
            return Read::Done;
        }
        argv[2] = last_id_;
    }
}

core::Result<bool> ViewedSuppressionStore::rebuild(const char* why) {
    const auto started = Clock::now();
    const std::string& changes = store_.changes().key;
    std::vector<std::uint64_t> hashes;
    {
        auto lease = sync_pool_.acquire();
        if (!lease) {
            return lease.error();
        }
        // 1. Where the stream ends now: what is written from here on is
        // read from the stream after the scan.
        const std::vector<std::string> last{"XREVRANGE", changes, "+", "-", "COUNT", "1"};
        auto reply = lease.value().command(last);
        if (!reply) {
            return reply.error();
        }
        const redisReply& r = *reply.value();
        if (r.type == REDIS_REPLY_ERROR) {
            return sync_pool_.error("XREVRANGE " + changes + ": " + std::string(reply_text(r)));
        }
        if (r.type != REDIS_REPLY_ARRAY) {
            return sync_pool_.error("XREVRANGE: unexpected reply");
        }
        if (r.elements > 0) {
            const auto id = entry_id(r.element[0]);
            if (id.empty()) {
                return sync_pool_.error("XREVRANGE: unexpected reply");
            }
            last_id_ = std::string(id);
        } else {
            // An empty stream: a marker gives the next read a place to
            // start from whose loss it can tell.
            const std::vector<std::string> mark{
                "XADD", changes, "MAXLEN", "~", std::to_string(store_.changes().max_length),
                "*",    "k",     ""};
            auto added = lease.value().command(mark);
            if (!added) {
                return added.error();
            }
            if (added.value()->type != REDIS_REPLY_STRING) {
                return sync_pool_.error("XADD " + changes + ": " +
                                        std::string(reply_text(*added.value())));
            }
            last_id_ = std::string(reply_text(*added.value()));
        }
        // 2. Every entry key, hashed.
        auto failed = lease.value().scan(
            view_.pattern, kReadCount,
            [&](std::span<const std::string_view> keys) -> std::optional<core::Error> {
                for (const auto key : keys) {
                    hashes.push_back(core::BloomFilter::hash(key));
                }
                return std::nullopt;
            });
        if (failed) {
            return *failed;
        }
    }
    // 3. A filter with room to grow, then what was written meanwhile.
    auto filter = std::make_shared<core::BloomFilter>(std::max(kMinCapacity, 2 * hashes.size()));
    for (const auto h : hashes) {
        filter->add_hash(h);
    }
    Clock::time_point sent;
    auto read = read_changes(*filter, sent);
    if (!read) {
        return read.error();
    }
    if (*read == Read::Lost) {
        return sync_pool_.error("the changes stream " + changes +
                                " lost entries while the view was rebuilt; trying again");
    }
    {
        std::lock_guard lock(mu_);
        filter_ = filter;
        synced_at_ = sent;
    }
    must_rebuild_ = false;
    ever_built_ = true;
    built_at_ = Clock::now();
    stats_.rebuilds.fetch_add(1, std::memory_order_relaxed);
    stats_.keys.store(hashes.size(), std::memory_order_relaxed);
    stats_.bytes.store(filter->bytes(), std::memory_order_relaxed);
    log(core::LogLevel::Info, "suppression view built (" + std::string(why) +
                                  "): " + std::to_string(hashes.size()) + " entry keys, " +
                                  std::to_string(filter->bytes() >> 10) + " KiB, in " +
                                  ms(built_at_ - started));
    return true;
}

void ViewedSuppressionStore::note_state(bool fresh_now, const std::string& why) {
    if (fresh_now == was_fresh_) {
        return;
    }
    was_fresh_ = fresh_now;
    if (fresh_now) {
        log(core::LogLevel::Notice,
            "suppression view is current: recipients on no list are answered without Redis");
    } else {
        log(core::LogLevel::Warning, "suppression view is stale (no complete read of " +
                                         store_.changes().key + " within " +
                                         std::to_string(view_.max_lag.count()) + "ms" +
                                         (why.empty() ? std::string() : ": " + why) +
                                         "): every lookup goes to Redis until it is current again");
    }
}

void ViewedSuppressionStore::log(core::LogLevel level, const std::string& text) const {
    if (auto* l = stats_.log(); l != nullptr) {
        l->log(level, text);
    }
}

}  // namespace staffel::adapters
