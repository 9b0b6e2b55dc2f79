// stats_store.cpp - see stats_store.hpp.
#include "adapters/redis/stats_store.hpp"

#include <hiredis/hiredis.h>

#include <charconv>

#include "adapters/redis/redis_settings.hpp"

namespace staffel::adapters {

using core::stats::CountMap;
using core::stats::Dimension;

namespace {

// Entries per EVALSHA: keeps one script call short (Redis runs nothing
// else meanwhile) and its ARGV small.
constexpr std::size_t kEntriesPerChunk = 4000;

struct Chunk {
    std::vector<std::string> keys;
    std::vector<std::string> groups;  // per group: entries, then triples
    std::size_t group_count = 0;
    std::size_t entries = 0;
};

std::vector<std::string> chunk_args(const Chunk& c, const StatsRetention& r) {
    std::vector<std::string> args;
    args.reserve(1 + c.keys.size() + 4 + c.groups.size());
    args.push_back(std::to_string(c.keys.size()));
    args.insert(args.end(), c.keys.begin(), c.keys.end());
    args.push_back(std::to_string(r.hourly.count()));
    args.push_back(std::to_string(r.daily.count()));
    args.push_back(std::to_string(r.max_values));
    args.push_back(std::to_string(c.group_count));
    args.insert(args.end(), c.groups.begin(), c.groups.end());
    return args;
}

std::vector<Chunk> chunks_of(const CountMap& counts, std::string_view prefix) {
    std::vector<Chunk> chunks;
    auto it = counts.begin();
    while (it != counts.end()) {
        if (chunks.empty() || chunks.back().entries >= kEntriesPerChunk) {
            chunks.emplace_back();
        }
        Chunk& c = chunks.back();
        const auto& hour = it->first.hour;
        const auto dim = it->first.dimension;
        const std::string day = hour.substr(0, 8);
        c.keys.push_back(RedisStatsStore::hourly_key(prefix, dim, hour));
        c.keys.push_back(RedisStatsStore::daily_key(prefix, dim, day));
        c.keys.push_back(std::string(prefix) +
                         "stats:values:" + std::string(core::stats::to_string(dim)) + ":" + day);
        const std::size_t count_at = c.groups.size();
        c.groups.emplace_back();
        std::size_t n = 0;
        for (; it != counts.end() && it->first.hour == hour && it->first.dimension == dim; ++it) {
            if (it->second <= 0) {
                continue;
            }
            c.groups.push_back(it->first.value);
            c.groups.push_back(it->first.counter);
            c.groups.push_back(std::to_string(it->second));
            ++n;
        }
        c.groups[count_at] = std::to_string(n);
        ++c.group_count;
        c.entries += n;
    }
    return chunks;
}

bool is_noscript(const redisReply& r) {
    return r.type == REDIS_REPLY_ERROR && reply_text(r).starts_with("NOSCRIPT");
}

}  // namespace

RedisStatsStore::RedisStatsStore(RedisOptions options)
    : pool_(named(std::move(options), "stats store")),
      script_(embedded_script("stats_flush.lua")) {}

std::string RedisStatsStore::hourly_key(std::string_view prefix, Dimension d,
                                        std::string_view hour) {
    return std::string(prefix) + "stats:" + std::string(core::stats::to_string(d)) +
           ":h:" + std::string(hour);
}

std::string RedisStatsStore::daily_key(std::string_view prefix, Dimension d, std::string_view day) {
    return std::string(prefix) + "stats:" + std::string(core::stats::to_string(d)) +
           ":d:" + std::string(day);
}

std::string RedisStatsStore::events_key(std::string_view prefix) {
    return std::string(prefix) + "events";
}

core::Result<std::uint64_t> RedisStatsStore::flush(const CountMap& counts, std::string_view prefix,
                                                   const StatsRetention& retention,
                                                   std::span<const std::string> events,
                                                   std::size_t events_max_length) {
    const auto chunks = chunks_of(counts, prefix);
    if (chunks.empty() && events.empty()) {
        return std::uint64_t{0};
    }
    auto lease = pool_.acquire();
    if (!lease) {
        return lease.error();
    }
    std::vector<std::vector<std::string>> args;
    args.reserve(chunks.size());
    for (const auto& c : chunks) {
        args.push_back(chunk_args(c, retention));
        std::vector<std::string> argv{"EVALSHA", script_.sha1};
        argv.insert(argv.end(), args.back().begin(), args.back().end());
        lease.value().append(argv);
    }
    if (!events.empty()) {
        std::vector<std::string> argv{
            "XADD", events_key(prefix), "MAXLEN", "~", std::to_string(events_max_length), "*"};
        argv.reserve(argv.size() + events.size() * 2);
        for (std::size_t i = 0; i < events.size(); ++i) {
            argv.push_back(std::to_string(i));
            argv.push_back(events[i]);
        }
        lease.value().append(argv);
    }
    std::uint64_t folded = 0;
    std::vector<std::size_t> reload;
    std::string error;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
        auto reply = lease.value().reply();
        if (!reply) {
            return reply.error();
        }
        const redisReply& r = *reply.value();
        if (is_noscript(r)) {
            reload.push_back(i);
        } else if (r.type == REDIS_REPLY_INTEGER) {
            folded += static_cast<std::uint64_t>(std::max<long long>(0, r.integer));
        } else if (error.empty()) {
            error = "stats_flush.lua: " + std::string(reply_text(r));
        }
    }
    if (!events.empty()) {
        auto reply = lease.value().reply();
        if (!reply) {
            return reply.error();
        }
        if (reply.value()->type == REDIS_REPLY_ERROR && error.empty()) {
            error = "XADD: " + std::string(reply_text(*reply.value()));
        }
    }
    for (const auto i : reload) {  // Redis lost its scripts (restart, SCRIPT FLUSH)
        auto reply = lease.value().eval_script(script_, args[i], script_loads_);
        if (!reply) {
            return reply.error();
        }
        if (reply.value()->type == REDIS_REPLY_INTEGER) {
            folded += static_cast<std::uint64_t>(std::max<long long>(0, reply.value()->integer));
        } else if (error.empty()) {
            error = "stats_flush.lua: " + std::string(reply_text(*reply.value()));
        }
    }
    if (!error.empty()) {
        return pool_.error(error);
    }
    return folded;
}

core::Result<std::vector<StatsTable>> RedisStatsStore::tables(std::span<const std::string> keys) {
    std::vector<StatsTable> tables(keys.size());
    if (keys.empty()) {
        return tables;
    }
    auto lease = pool_.acquire();
    if (!lease) {
        return lease.error();
    }
    for (const auto& key : keys) {
        const std::vector<std::string> argv{"HGETALL", key};
        lease.value().append(argv);
    }
    for (std::size_t k = 0; k < keys.size(); ++k) {
        auto reply = lease.value().reply();
        if (!reply) {
            return reply.error();
        }
        const redisReply& r = *reply.value();
        if (r.type != REDIS_REPLY_ARRAY) {
            return pool_.error("HGETALL " + keys[k] + ": unexpected reply");
        }
        auto& table = tables[k];
        for (std::size_t i = 0; i + 1 < r.elements; i += 2) {
            const auto field = reply_text(*r.element[i]);
            const auto value = reply_text(*r.element[i + 1]);
            const auto bar = field.rfind('|');
            long long n = 0;
            const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (bar == std::string_view::npos || ec != std::errc{}) {
                continue;  // not ours
            }
            table[std::string(field.substr(0, bar))][std::string(field.substr(bar + 1))] += n;
        }
    }
    return tables;
}

core::Result<StatsTable> RedisStatsStore::sum(std::span<const std::string> keys) {
    auto tables = this->tables(keys);
    if (!tables) {
        return tables.error();
    }
    StatsTable sum;
    for (auto& table : tables.value()) {
        for (auto& [value, counters] : table) {
            auto& into = sum[value];
            for (const auto& [name, n] : counters) {
                into[name] += n;
            }
        }
    }
    return sum;
}

}  // namespace staffel::adapters
