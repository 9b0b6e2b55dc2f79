// test_schema_sentinel.cpp - config/schema_sentinel: [redis] sentinels,
// master_name and WAIT settings, their defaults and refusals.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "../policy_text.hpp"
#include "adapters/redis/redis_settings.hpp"
#include "config/loader.hpp"

using namespace staffel;
using namespace std::chrono_literals;

namespace {

using test::load_error;
using test::policy_from;

}  // namespace

TEST_CASE("[redis] without sentinels connects to address, with no WAIT", "[config][sentinel]") {
    const auto p = policy_from("[redis]\naddress = \"127.0.0.1:7000\"\n");
    CHECK(p->redis.sentinels.empty());
    CHECK(p->redis.master_name == "staffel");
    CHECK(p->redis.wait_replicas == 0);
    CHECK(p->redis.wait_timeout == 100ms);
    const auto o = adapters::redis_options(p->redis);
    CHECK(o.resolver == nullptr);
    CHECK(o.address.port == 7000);
}

TEST_CASE("[redis] sentinels give the pool a resolver", "[config][sentinel]") {
    const auto p = policy_from(
        "[redis]\nsentinels = [\"127.0.0.1:26379\", \"[::1]:26380\"]\nmaster_name = \"mail\"\n"
        "sentinel_username = \"watcher\"\nwait_replicas = 2\nwait_timeout = \"250ms\"\n");
    REQUIRE(p->redis.sentinels.size() == 2);
    CHECK(p->redis.sentinels[0].to_string() == "127.0.0.1:26379");
    CHECK(p->redis.sentinels[1].port == 26380);
    CHECK(p->redis.master_name == "mail");
    CHECK(p->redis.sentinel_username == "watcher");
    CHECK(p->redis.wait_replicas == 2);
    CHECK(p->redis.wait_timeout == 250ms);
    const auto o = adapters::redis_options(p->redis);
    REQUIRE(o.resolver != nullptr);
    CHECK(o.resolver->describe() == "(master mail)");  // nothing resolved yet
    CHECK(o.max_backoff == 200ms);
}

TEST_CASE("[redis] sentinel and WAIT refusals name the field", "[config][sentinel]") {
    struct Case {
        const char* text;
        const char* want;
    };
    const Case cases[] = {
        {"[redis]\nsentinels = [\"localhost\"]\n",
         "t.toml:2:13: error: redis.sentinels: bad Redis address \"localhost\"; expected "
         "\"HOST:PORT\" (e.g. \"127.0.0.1:6379\", \"[::1]:6379\") or \"unix:/absolute/path\""},
        {"[redis]\nmaster_name = \"two words\"\n",
         "t.toml:2:15: error: redis.master_name: bad master name \"two words\" (printable "
         "characters without spaces); expected the name the sentinels monitor the primary under"},
        {"[redis]\nwait_replicas = 17\n",
         "t.toml:2:17: error: redis.wait_replicas: value 17 is out of range; expected an integer "
         "from 0 to 16"},
        {"[redis]\nwait_timeout = \"0ms\"\n",
         "t.toml:2:16: error: redis.wait_timeout: duration \"0ms\" is out of range; expected a "
         "duration from \"1ms\" to \"10s\", e.g. \"100ms\""},
        {"[redis]\nsentinel_password_file = \"relative.pass\"\n",
         "t.toml:2:26: error: redis.sentinel_password_file: \"relative.pass\" is not an absolute "
         "path; expected the absolute path of a file (mode 0600 or stricter) holding the "
         "password"},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        CHECK(load_error(c.text) == c.want);
    }
}
