// event_stream.cpp - see event_stream.hpp.
#include "adapters/redis/event_stream.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>

#include "adapters/redis/redis_settings.hpp"

namespace staffel::adapters {

namespace {

// [id, [field, value, ...]] -> StreamEntry; false when it is not one.
bool to_entry(const redisReply& r, StreamEntry& out) {
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 ||
        r.element[0]->type != REDIS_REPLY_STRING) {
        return false;
    }
    out.id = std::string(reply_text(*r.element[0]));
    out.events.clear();
    const redisReply& fields = *r.element[1];
    if (fields.type == REDIS_REPLY_NIL) {
        return true;  // deleted meanwhile (XAUTOCLAIM, XREADGROUP on old ids)
    }
    if (fields.type != REDIS_REPLY_ARRAY) {
        return false;
    }
    for (std::size_t i = 0; i + 1 < fields.elements; i += 2) {
        out.events.emplace_back(reply_text(*fields.element[i + 1]));
    }
    return true;
}

std::string block_ms(std::chrono::milliseconds block) {
    return std::to_string(std::max<long long>(1, block.count()));
}

}  // namespace

RedisEventStream::RedisEventStream(RedisOptions options, std::string_view prefix)
    : pool_(named(std::move(options), "event stream")), key_(std::string(prefix) + "events") {}

// `nested`: the reply is [[key, [entries]]] (XREAD, XREADGROUP) rather than
// [entries] (XRANGE) - or [cursor, [entries], ...] (XAUTOCLAIM), handled as
// nested too by taking the second element.
core::Result<std::vector<StreamEntry>> RedisEventStream::entries(std::vector<std::string> argv,
                                                                 bool nested) {
    auto reply = pool_.command(argv);
    if (!reply) {
        return reply.error();
    }
    const redisReply* r = reply.value().get();
    std::vector<StreamEntry> out;
    if (r->type == REDIS_REPLY_NIL) {
        return out;  // a blocking read that timed out
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return pool_.error(argv.front() + ": " + std::string(reply_text(*r)));
    }
    if (nested) {
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
            return pool_.error(argv.front() + ": unexpected reply");
        }
        if (argv.front() == "XAUTOCLAIM") {
            r = r->elements >= 2 ? r->element[1] : nullptr;
        } else {
            const redisReply* stream = r->element[0];
            r = stream->type == REDIS_REPLY_ARRAY && stream->elements == 2 ? stream->element[1]
                                                                           : nullptr;
        }
    }
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY) {
        return pool_.error(argv.front() + ": unexpected reply");
    }
    for (std::size_t i = 0; i < r->elements; ++i) {
        StreamEntry e;
        if (!to_entry(*r->element[i], e)) {
            return pool_.error(argv.front() + ": unexpected entry");
        }
        out.push_back(std::move(e));
    }
    return out;
}

core::Result<std::vector<StreamEntry>> RedisEventStream::latest(std::size_t count) {
    auto got = entries({"XREVRANGE", key_, "+", "-", "COUNT", std::to_string(count)}, false);
    if (got) {
        std::reverse(got.value().begin(), got.value().end());
    }
    return got;
}

core::Result<std::vector<StreamEntry>> RedisEventStream::after(std::string_view id,
                                                               std::size_t count,
                                                               std::chrono::milliseconds block) {
    return entries({"XREAD", "COUNT", std::to_string(count), "BLOCK", block_ms(block), "STREAMS",
                    key_, std::string(id)},
                   true);
}

core::Result<std::vector<StreamEntry>> RedisEventStream::range_after(std::string_view id,
                                                                     std::size_t count) {
    return entries({"XRANGE", key_, "(" + std::string(id), "+", "COUNT", std::to_string(count)},
                   false);
}

core::Result<bool> RedisEventStream::ensure_group(std::string_view group) {
    const std::vector<std::string> argv{"XGROUP",           "CREATE", key_,
                                        std::string(group), "0",      "MKSTREAM"};
    auto reply = pool_.command(argv);
    if (!reply) {
        return reply.error();
    }
    const auto& r = *reply.value();
    if (r.type == REDIS_REPLY_ERROR && !reply_text(r).starts_with("BUSYGROUP")) {
        return pool_.error("XGROUP CREATE: " + std::string(reply_text(r)));
    }
    return r.type != REDIS_REPLY_ERROR;
}

core::Result<std::vector<StreamEntry>> RedisEventStream::read_group(
    std::string_view group, std::string_view consumer, std::size_t count,
    std::chrono::milliseconds block) {
    return entries({"XREADGROUP", "GROUP", std::string(group), std::string(consumer), "COUNT",
                    std::to_string(count), "BLOCK", block_ms(block), "STREAMS", key_, ">"},
                   true);
}

core::Result<std::vector<StreamEntry>> RedisEventStream::claim_stale(
    std::string_view group, std::string_view consumer, std::chrono::milliseconds min_idle,
    std::size_t count) {
    return entries({"XAUTOCLAIM", key_, std::string(group), std::string(consumer),
                    std::to_string(min_idle.count()), "0-0", "COUNT", std::to_string(count)},
                   true);
}

core::Result<bool> RedisEventStream::ack(std::string_view group, std::string_view id) {
    const std::vector<std::string> argv{"XACK", key_, std::string(group), std::string(id)};
    auto reply = pool_.command(argv);
    if (!reply) {
        return reply.error();
    }
    if (reply.value()->type != REDIS_REPLY_INTEGER) {
        return pool_.error("XACK: " + std::string(reply_text(*reply.value())));
    }
    return reply.value()->integer == 1;
}

core::Result<bool> RedisEventStream::set_aside(std::string_view event, std::string_view error) {
    const std::vector<std::string> argv{
        "XADD", key_ + ":failed", "MAXLEN",           "~",     "100000",
        "*",    "event",          std::string(event), "error", std::string(error)};
    auto reply = pool_.command(argv);
    if (!reply) {
        return reply.error();
    }
    if (reply.value()->type == REDIS_REPLY_ERROR) {
        return pool_.error("XADD: " + std::string(reply_text(*reply.value())));
    }
    return true;
}

}  // namespace staffel::adapters
