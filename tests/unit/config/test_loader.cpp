// test_loader.cpp - policies as admins write them, good and bad.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/loader.hpp"
#include "config/schema.hpp"

using namespace staffel;
using namespace std::chrono_literals;

namespace {

std::string first_error(const config::LoadResult& r) {
    return r.errors.empty() ? std::string("(no error)") : r.errors.front().to_string();
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/staffel-unit-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        const auto p = path / name;
        std::ofstream(p) << text;
        return p.string();
    }
};

}  // namespace

TEST_CASE("the minimal policy from the docs loads", "[config]") {
    auto r = config::load_policy_text(R"(
[milter]
socket = "unix:/run/staffel/staffeld.sock"
user = "staffel"            # optional; whom to run as after opening the socket

[redis]
address = "127.0.0.1:6379"  # or "unix:/path/to/redis.sock"
)",
                                      "p.toml");
    INFO(first_error(r));
    REQUIRE(r.policy);
    CHECK(r.policy->milter.socket.to_libmilter() == "unix:/run/staffel/staffeld.sock");
    CHECK(r.policy->milter.user == "staffel");
    CHECK(r.policy->redis.address.to_string() == "127.0.0.1:6379");
    CHECK(r.policy->milter.timeout == 300s);  // default
    CHECK(r.policy->digest.size() == 8);
}

TEST_CASE("an empty policy gives the documented defaults", "[config]") {
    auto r = config::load_policy_text("", "empty.toml");
    REQUIRE(r.policy);
    const core::Policy& p = *r.policy;
    CHECK(p.milter.socket.to_libmilter() == "unix:/run/staffel/staffeld.sock");
    CHECK_FALSE(p.milter.user);
    CHECK(p.milter.socket_mode == 0660);
    CHECK(p.milter.backlog == 128);
    CHECK(p.milter.drain_timeout == 30s);
    CHECK(p.redis.address.to_string() == "127.0.0.1:6379");
    CHECK(p.redis.connect_timeout == 250ms);
    CHECK(p.log.level == core::LogLevel::Info);
}

TEST_CASE("every value with a unit is parsed at load", "[config]") {
    auto r = config::load_policy_text(R"([milter]
socket = "inet:8891@127.0.0.1"
socket_mode = "0600"
timeout = "2m"
backlog = 16
drain_timeout = "0s"
[redis]
address = "unix:/run/redis/redis.sock"
connect_timeout = "1s"
[log]
level = "debug"
)",
                                      "p.toml");
    INFO(first_error(r));
    REQUIRE(r.policy);
    CHECK(r.policy->milter.socket.port == 8891);
    CHECK(r.policy->milter.socket_mode == 0600);
    CHECK(r.policy->milter.timeout == 120s);
    CHECK(r.policy->milter.backlog == 16);
    CHECK(r.policy->milter.drain_timeout == 0s);
    CHECK(r.policy->redis.address.path == "/run/redis/redis.sock");
    CHECK(r.policy->redis.connect_timeout == 1s);
    CHECK(r.policy->log.level == core::LogLevel::Debug);
}

TEST_CASE("bad policies give one located error naming the field", "[config]") {
    struct Case {
        const char* text;
        const char* want;  // the whole error line
    };
    const Case cases[] = {
        {"[milter]\nsockett = \"unix:/x\"\n",
         "p.toml:2:1: error: milter.sockett: unknown key; did you mean \"socket\"? known keys in "
         "[milter]: socket, user, group, socket_mode, timeout, backlog, drain_timeout"},
        {"[milter]\nsocket = 5\n",
         "p.toml:2:10: error: milter.socket: expected \"unix:/absolute/path\" or "
         "\"inet:PORT@HOST\" (e.g. \"inet:8891@127.0.0.1\"), got an integer"},
        {"[milter]\nbacklog = 0\n",
         "p.toml:2:11: error: milter.backlog: value 0 is out of range; expected an integer from "
         "1 to 65535"},
        {"[milter]\ntimeout = \"5x\"\n",
         "p.toml:2:11: error: milter.timeout: unknown unit in duration \"5x\"; expected a number "
         "with a unit ms, s, m, h, d or w, e.g. \"250ms\", \"30s\", \"1h\""},
        {"[milter]\ntimeout = \"2d\"\n",
         "p.toml:2:11: error: milter.timeout: duration \"2d\" is out of range; expected a "
         "duration from \"1s\" to \"1d\", e.g. \"300s\""},
        {"[miltr]\nsocket = \"unix:/x\"\n",
         "p.toml:1:2: error: miltr: unknown section; did you mean \"milter\"? known: include, "
         "milter, redis, log"},
        {"milter = 1\n",
         "p.toml:1:10: error: milter: expected a table ([milter]), got a plain value"},
        {"[redis]\naddress = \"localhost\"\n",
         "p.toml:2:11: error: redis.address: bad Redis address \"localhost\"; expected "
         "\"HOST:PORT\" "
         "(e.g. \"127.0.0.1:6379\", \"[::1]:6379\") or \"unix:/absolute/path\""},
        {"[log]\nlevel = \"loud\"\n",
         "p.toml:2:9: error: log.level: unknown log level \"loud\"; expected one of \"debug\", "
         "\"info\", \"notice\", \"warning\", \"error\""},
        {"[milter]\nsocket_mode = \"0999\"\n",
         "p.toml:2:15: error: milter.socket_mode: bad mode \"0999\"; expected an octal mode string "
         "from \"0600\" to \"0777\""},
        {"[milter]\nuser = \"\"\n",
         "p.toml:2:8: error: milter.user: bad account name \"\"; expected a user name, e.g. "
         "\"staffel\""},
    };
    for (const auto& c : cases) {
        INFO("policy:\n" << c.text);
        auto r = config::load_policy_text(c.text, "p.toml");
        CHECK_FALSE(r.policy);
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].to_string() == c.want);
    }
}

TEST_CASE("invalid TOML is located", "[config]") {
    auto r = config::load_policy_text("[milter]\nsocket = \"unix:/x\n", "p.toml");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].line == 2);
    CHECK(r.errors[0].to_string().starts_with("p.toml:2:"));
    CHECK(r.errors[0].message.starts_with("invalid TOML: "));
}

TEST_CASE("a key set twice is an error naming both places", "[config]") {
    TempDir dir;
    dir.write("extra.toml", "[milter]\nbacklog = 5\n");
    const auto main = dir.write("main.toml", "include = [\"extra.toml\"]\n[milter]\nbacklog = 7\n");
    auto r = config::load_policy(main);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].to_string() == (dir.path / "extra.toml").string() +
                                         ":2:1: error: milter.backlog: already set at " + main +
                                         ":3:1");
}

TEST_CASE("includes are merged, relative to the including file", "[config]") {
    TempDir dir;
    std::filesystem::create_directory(dir.path / "conf.d");
    dir.write("conf.d/redis.toml", "[redis]\naddress = \"127.0.0.1:7000\"\n");
    const auto main =
        dir.write("main.toml", "include = [\"conf.d/redis.toml\"]\n[log]\nlevel = \"notice\"\n");
    auto r = config::load_policy(main);
    INFO(first_error(r));
    REQUIRE(r.policy);
    CHECK(r.policy->redis.address.port == 7000);
    CHECK(r.policy->log.level == core::LogLevel::Notice);
    CHECK(r.files.size() == 2);
}

TEST_CASE("include cycles, missing includes and missing files are errors", "[config]") {
    TempDir dir;
    const auto a = dir.write("a.toml", "include = [\"b.toml\"]\n");
    dir.write("b.toml", "include = [\"a.toml\"]\n");
    auto cyc = config::load_policy(a);
    REQUIRE(cyc.errors.size() == 1);
    CHECK(cyc.errors[0].to_string() == (dir.path / "b.toml").string() +
                                           ":1:12: error: include: \"" + a +
                                           "\" would include itself");

    const auto m = dir.write("m.toml", "include = [\"nope.toml\"]\n");
    auto missing = config::load_policy(m);
    REQUIRE(missing.errors.size() == 1);
    CHECK(missing.errors[0].to_string() == m + ":1:12: error: include: \"" +
                                               (dir.path / "nope.toml").string() +
                                               "\": cannot open policy: No such file or directory");

    auto absent = config::load_policy((dir.path / "absent.toml").string());
    REQUIRE(absent.errors.size() == 1);
    CHECK(absent.errors[0].to_string() ==
          (dir.path / "absent.toml").string() +
              ": error: cannot open policy: No such file or directory");

    auto directory = config::load_policy(dir.path.string());
    REQUIRE(directory.errors.size() == 1);
    CHECK(directory.errors[0].message == "cannot read policy: it is a directory");
}

TEST_CASE("the digest follows the bytes of the policy", "[config]") {
    auto a = config::load_policy_text("[milter]\nbacklog = 5\n", "p.toml");
    auto b = config::load_policy_text("[milter]\nbacklog = 5\n", "q.toml");
    auto c = config::load_policy_text("[milter]\nbacklog = 6\n", "p.toml");
    REQUIRE((a.policy && b.policy && c.policy));
    CHECK(a.policy->digest == b.policy->digest);
    CHECK(a.policy->digest != c.policy->digest);
}

TEST_CASE("policies/README.md and policies/example.toml cover every key", "[config][docs]") {
    std::ifstream readme(std::string(STAFFEL_SOURCE_DIR) + "/policies/README.md");
    std::ifstream example(std::string(STAFFEL_SOURCE_DIR) + "/policies/example.toml");
    REQUIRE(readme.good());
    REQUIRE(example.good());
    std::stringstream rs;
    rs << readme.rdbuf();
    std::stringstream es;
    es << example.rdbuf();
    const std::string docs = rs.str();
    const std::string ex = es.str();
    for (const auto& f : config::schema()) {
        INFO("field " << f.name());
        CHECK(docs.find("`" + f.name() + "`") != std::string::npos);
        CHECK(ex.find(std::string(f.key) + " =") != std::string::npos);
    }
    // The example itself must load.
    auto r = config::load_policy(std::string(STAFFEL_SOURCE_DIR) + "/policies/example.toml");
    INFO(first_error(r));
    CHECK(r.policy);
}
