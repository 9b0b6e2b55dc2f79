// test_sentinel.cpp - following a failover: a resolver names the node, the
// pool refuses a replica (ROLE), a READONLY reply and a connection error
// make it ask again; SentinelResolver's refusals; WAIT after a charge.
//
// Every case starts its own redis-servers (redis_server.hpp), on TCP so
// that one can replicate another.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/redis/counter_store.hpp"
#include "adapters/redis/sentinel.hpp"
#include "redis_server.hpp"

namespace staffel {
namespace {

using adapters::RedisPool;
using test::RedisServer;

// Names the addresses it is given, in turn, moving on when marked stale.
class ScriptedResolver final : public adapters::RedisResolver {
  public:
    explicit ScriptedResolver(std::vector<core::RedisAddress> addresses)
        : addresses_(std::move(addresses)) {}
    core::Result<core::RedisAddress> resolve() override {
        const std::lock_guard lock(mu_);
        ++resolves_;
        return addresses_[std::min(at_, addresses_.size() - 1)];
    }
    void mark_stale() noexcept override {
        const std::lock_guard lock(mu_);
        ++stale_;
        ++at_;
    }
    [[nodiscard]] std::string describe() const override { return "scripted"; }
    int stale() const {
        const std::lock_guard lock(mu_);
        return stale_;
    }

  private:
    mutable std::mutex mu_;
    std::vector<core::RedisAddress> addresses_;
    std::size_t at_ = 0;
    int resolves_ = 0;
    int stale_ = 0;
};

RedisServer::Config tcp() {
    RedisServer::Config c;
    c.tcp = true;
    return c;
}

// A full sync starts at once (Redis waits 5 s for more replicas by default).
std::vector<std::string> fast_sync() {
    return {"--repl-diskless-sync-delay", "0"};
}

std::vector<std::string> replica_of(const RedisServer& primary) {
    auto args = fast_sync();
    args.insert(args.end(), {"--replicaof", "127.0.0.1", std::to_string(primary.port())});
    return args;
}

void wait_in_sync(const RedisServer& replica) {
    for (int i = 0; i < 500; ++i) {
        if (replica.command({"INFO", "replication"}).str.find("master_link_status:up") !=
            std::string::npos) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL("the replica did not sync within 5 s");
}

adapters::RedisOptions options_with(std::shared_ptr<adapters::RedisResolver> resolver) {
    adapters::RedisOptions o;
    o.connect_timeout = std::chrono::milliseconds(500);
    o.command_timeout = std::chrono::milliseconds(1000);
    o.pool_size = 2;
    o.max_backoff = std::chrono::milliseconds(50);
    o.resolver = std::move(resolver);
    return o;
}

// One unit on a window counter (limit 100, for a minute) under key.
std::vector<core::CounterCharge> one_charge(std::string key) {
    core::CounterCharge c;
    c.kind = core::CounterCharge::Kind::Window;
    c.key = std::move(key);
    c.amount = 1;
    c.limit = 100;
    c.expire_at_ms = test::now_ms() + 60'000;
    return {c};
}

std::vector<std::string> argv(std::initializer_list<const char*> words) {
    return {words.begin(), words.end()};
}

}  // namespace

TEST_CASE("the pool refuses a node whose ROLE is not master and asks again", "[sentinel][role]") {
    RedisServer primary(tcp(), fast_sync());
    RedisServer replica(tcp(), replica_of(primary));
    auto resolver = std::make_shared<ScriptedResolver>(
        std::vector<core::RedisAddress>{replica.address(), primary.address()});
    RedisPool pool(options_with(resolver));

    auto first = pool.command(argv({"SET", "k", "v"}));
    REQUIRE_FALSE(first.ok());
    CHECK(first.error().message.find("is a slave, not the master") != std::string::npos);
    CHECK(resolver->stale() == 1);

    std::this_thread::sleep_for(std::chrono::milliseconds(80));  // past the pool's backoff
    auto second = pool.command(argv({"SET", "k", "v"}));
    INFO((second ? std::string() : second.error().message));
    REQUIRE(second.ok());
    CHECK(second.value()->type == REDIS_REPLY_STATUS);
    CHECK(primary.command({"GET", "k"}).str == "v");
}

TEST_CASE("a READONLY reply closes the connection and marks the primary stale",
          "[sentinel][readonly]") {
    RedisServer old_primary(tcp(), fast_sync());
    RedisServer new_primary(tcp(), fast_sync());
    auto resolver = std::make_shared<ScriptedResolver>(
        std::vector<core::RedisAddress>{old_primary.address(), new_primary.address()});
    RedisPool pool(options_with(resolver));
    REQUIRE(pool.command(argv({"SET", "k", "1"})).ok());
    CHECK(pool.connections() == 1);

    // The old primary is demoted (as Sentinel does when it comes back).
    old_primary.command({"REPLICAOF", "127.0.0.1", std::to_string(new_primary.port())});
    wait_in_sync(old_primary);

    auto refused = pool.command(argv({"SET", "k", "2"}));
    REQUIRE(refused.ok());  // an error reply, not an I/O error
    CHECK(refused.value()->type == REDIS_REPLY_ERROR);
    CHECK(adapters::is_readonly_error(adapters::reply_text(*refused.value())));
    CHECK(resolver->stale() == 1);
    CHECK(pool.connections() == 0);  // the demoted node's connection is closed

    auto written = pool.command(argv({"SET", "k", "3"}));
    REQUIRE(written.ok());
    CHECK(written.value()->type == REDIS_REPLY_STATUS);
    CHECK(new_primary.command({"GET", "k"}).str == "3");
}

TEST_CASE("a script's refused write on a replica reads as READONLY", "[sentinel][readonly]") {
    RedisServer primary(tcp(), fast_sync());
    RedisServer replica(tcp(), replica_of(primary));
    wait_in_sync(replica);
    const auto r = replica.command({"EVAL", "return redis.call('SET', KEYS[1], '1')", "1", "k"});
    INFO(r.str);
    CHECK(r.type == REDIS_REPLY_ERROR);
    CHECK(adapters::is_readonly_error(r.str));
    CHECK_FALSE(adapters::is_readonly_error("ERR unknown command"));
    CHECK_FALSE(adapters::is_readonly_error("NOSCRIPT No matching script"));
}

TEST_CASE("a connection error marks the primary stale", "[sentinel]") {
    RedisServer dead(tcp());
    RedisServer alive(tcp());
    auto resolver = std::make_shared<ScriptedResolver>(
        std::vector<core::RedisAddress>{dead.address(), alive.address()});
    RedisPool pool(options_with(resolver));
    REQUIRE(pool.command(argv({"SET", "k", "1"})).ok());
    dead.kill();
    CHECK_FALSE(pool.command(argv({"SET", "k", "2"})).ok());
    CHECK(resolver->stale() >= 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    REQUIRE(pool.command(argv({"SET", "k", "2"})).ok());
    CHECK(alive.command({"GET", "k"}).str == "2");
}

TEST_CASE("SentinelResolver: no sentinel that answers is an error naming the master",
          "[sentinel][resolver]") {
    RedisServer not_a_sentinel(tcp());
    adapters::SentinelOptions o;
    core::RedisAddress nobody = not_a_sentinel.address();
    nobody.port = 1;  // refused
    o.sentinels = {nobody, not_a_sentinel.address()};
    o.master_name = "staffel";
    o.password = "s3cret-sentinel";
    adapters::SentinelResolver resolver(o);
    auto r = resolver.resolve();
    REQUIRE_FALSE(r.ok());
    INFO(r.error().message);
    CHECK(r.error().message.starts_with("Redis master staffel: no sentinel answered"));
    CHECK(r.error().message.find("s3cret") == std::string::npos);
    CHECK(resolver.resolutions() == 0);
}

TEST_CASE("wait_replicas: a charge counts once a replica holds it, else a store error",
          "[sentinel][wait]") {
    RedisServer primary(tcp(), fast_sync());
    const auto charge = one_charge("w:{wait}");

    adapters::RedisOptions o = primary.options();
    adapters::RedisCounterStore alone(o, adapters::ReplicaWait{1, std::chrono::milliseconds(50)});
    const auto t0 = std::chrono::steady_clock::now();
    auto r = alone.charge(charge);
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("WAIT: 0 of 1 replicas acknowledged the charge within 50ms") !=
          std::string::npos);
    CHECK(took >= std::chrono::milliseconds(45));
    CHECK(primary.command({"GET", "w:{wait}"}).str == "1");  // stays counted

    RedisServer replica(tcp(), replica_of(primary));
    wait_in_sync(replica);
    for (int i = 0; i < 500 && primary.command({"INFO", "replication"}).str.find("state=online") ==
                                   std::string::npos;
         ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // The replica's first acknowledgement can come late on a loaded host
    // (a fresh machine's first sync, tests running in parallel): one charge
    // with a generous WAIT first; once acknowledgements flow, each charge
    // gets its answer in milliseconds (2s only bounds a stalled host).
    // Each WAIT must end within the client's command timeout, as the policy
    // check demands of wait_timeout.
    adapters::RedisOptions slow = o;
    slow.command_timeout = std::chrono::seconds(15);
    adapters::RedisCounterStore patient(slow, adapters::ReplicaWait{1, std::chrono::seconds(10)});
    {
        auto first = patient.charge(charge);
        INFO((first ? std::string() : first.error().message));
        REQUIRE(first.ok());
    }
    adapters::RedisCounterStore replicated(
        slow, adapters::ReplicaWait{1, std::chrono::milliseconds(2000)});
    for (int i = 0; i < 3; ++i) {
        auto ok = replicated.charge(charge);
        INFO((ok ? std::string() : ok.error().message));
        REQUIRE(ok.ok());
        CHECK(ok.value().admitted);
    }
    CHECK(replica.command({"GET", "w:{wait}"}).str == "5");
    // The script cache was cold on the first charge: EVAL and WAIT again.
    CHECK(alone.script_loads() == 1);
    CHECK(replicated.script_loads() == 0);
}

// A charge sent whose answer never comes (a primary that runs the script
// and dies before answering) may still count: the error says so. A stopped
// server leaves the EVALSHA in its socket past the client's timeout; once
// it runs again it reads the command (before the client's close) and
// counts it.
TEST_CASE("wait_replicas: a charge whose answer was lost is reported as maybe counted",
          "[sentinel][wait][lost]") {
    RedisServer primary;
    const auto charge = one_charge("w:{lost}");

    adapters::RedisOptions o = primary.options();
    o.command_timeout = std::chrono::milliseconds(100);
    adapters::RedisCounterStore store(o, adapters::ReplicaWait{1, std::chrono::milliseconds(20)});
    // The first charge loads the script (no replica: WAIT falls short, the
    // charge stays counted), so the paused EVALSHA finds it later.
    REQUIRE_FALSE(store.charge(charge).ok());
    REQUIRE(primary.command({"GET", "w:{lost}"}).str == "1");

    primary.signal(SIGSTOP);
    const auto stopped_at = std::chrono::steady_clock::now();
    auto r = store.charge(charge);
    const auto took = std::chrono::steady_clock::now() - stopped_at;
    primary.signal(SIGCONT);
    REQUIRE_FALSE(r.ok());
    INFO(r.error().message);
    CHECK(r.error().message.find("the charge's answer was lost: it may be counted, unconfirmed") !=
          std::string::npos);
    CHECK(took < std::chrono::milliseconds(1000));
    // The server runs again: the script the client gave up on counts.
    std::string counted;
    for (int i = 0; i < 300 && counted != "2"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        counted = primary.command({"GET", "w:{lost}"}).str;
    }
    CHECK(counted == "2");
}

}  // namespace staffel
