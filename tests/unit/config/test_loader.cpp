// test_loader.cpp - policies as admins write them, good and bad.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "config/loader.hpp"
#include "config/schema.hpp"
#include "config/schema_doc.hpp"

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
         "[milter]: socket, user, group, socket_mode, timeout, backlog, drain_timeout, "
         "max_header_bytes, max_headers"},
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
         "general, milter, redis, log, dkim, quota, suppression, routing, stream, route, stats, "
         "events, metrics, web"},
        {"milter = 1\n",
         "p.toml:1:10: error: milter: expected a table ([milter]), got a plain value"},
        {"[redis]\naddress = \"localhost\"\n",
         "p.toml:2:11: error: redis.address: bad Redis address \"localhost\"; expected "
         "\"HOST:PORT\" "
         "(e.g. \"127.0.0.1:6379\", \"[::1]:6379\") or \"unix:/absolute/path\""},
        {"[log]\nlevel = \"loud\"\n",
         "p.toml:2:9: error: log.level: unknown log level \"loud\"; expected one of \"debug\", "
         "\"info\", \"notice\", \"warning\", \"error\""},
        {"[suppression]\ningest_max_size = \"11MiB\"\n",
         "p.toml:2:19: error: suppression.ingest_max_size: size \"11MiB\" is out of range; "
         "expected a size from \"1KiB\" to \"10MiB\""},
        {"[suppression]\ningest_memory_limit = \"1MiB\"\n",
         "p.toml:2:23: error: suppression.ingest_memory_limit: size \"1MiB\" is out of range; "
         "expected a size from \"64MiB\" to \"64GiB\""},
        {"[suppression]\ningest_memory_limit = 512\n",
         "p.toml:2:23: error: suppression.ingest_memory_limit: expected a size from \"64MiB\" to "
         "\"64GiB\", got an integer"},
        {"[milter]\nsocket_mode = \"0999\"\n",
         "p.toml:2:15: error: milter.socket_mode: bad mode \"0999\"; expected an octal mode string "
         "from \"0600\" to \"0777\""},
        {"[[dkim.keys]]\ndomain = \"example.com\"\nselector = \"s1\"\n",
         "p.toml:1:1: error: dkim.keys.key: missing; every [[dkim.keys]] needs key"},
        {"[[dkim.keys]]\ndomain = \"exa mple.com\"\nselector = \"s1\"\nkey = \"k.pem\"\n",
         "p.toml:2:10: error: dkim.keys.domain: bad domain \"exa mple.com\" (letters, digits, '-' "
         "and dots; IDNs in A-label form); expected a domain name, e.g. \"example.com\""},
        {"[dkim]\nkeys = 1\n",
         "p.toml:2:8: error: dkim.keys: expected tables written as [[dkim.keys]], got a plain "
         "value"},
        {"[dkim]\ntrusted_networks = [\"10.0.0.1/8\"]\n",
         "p.toml:2:20: error: dkim.trusted_networks: bad network \"10.0.0.1/8\": host bits set "
         "after the prefix; did you mean \"10.0.0.0/8\"?; expected an array of networks, e.g. "
         "[\"127.0.0.0/8\", \"::1\"]"},
        {"[[dkim.keys]]\ndomian = \"example.com\"\n",
         "p.toml:2:1: error: dkim.keys.domian: unknown key; did you mean \"domain\"? known keys in "
         "[dkim.keys]: domain, selector, algorithm, key, subdomains, canonicalization, "
         "not_before, not_after"},
        {"[[dkim.keys]]\ndomain = \"example.com\"\nselector = \"s1\"\nkey = \"/a\"\n"
         "[[dkim.keys]]\ndomain = \"example.com\"\nselector = \"s1\"\nkey = \"/b\"\n",
         "p.toml:5:1: error: dkim.keys: selector \"s1\" of example.com is declared twice (also at "
         "p.toml:1:1); one DNS record cannot hold two keys"},
        {"[[dkim.senders]]\ndomains = [\"example.com\"]\n",
         "p.toml:1:1: error: dkim.senders: a rule needs sasl_user or networks (or both) to say "
         "whom it is for"},
        {"[dkim]\nkys = 1\n",
         "p.toml:2:1: error: dkim.kys: unknown key; did you mean \"keys\"? known keys in [dkim]: "
         "canonicalization, expire, trusted_networks, authenticated, overlap, sign_headers, "
         "oversign_headers, keys, senders"},
        {"[[dkim.keys]]\ndomain = \"example.com\"\nselector = \"s1\"\nkey = \"/a\"\n"
         "algorithm = \"rsa-sha1\"\n",
         "p.toml:5:13: error: dkim.keys.algorithm: unknown DKIM algorithm \"rsa-sha1\": expected "
         "\"rsa-sha256\" or \"ed25519-sha256\""},
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

TEST_CASE("a FIFO given as a policy or a secret is refused rather than waited on", "[config]") {
    // open() of a FIFO without a writer blocks; staffeld -n must answer.
    TempDir dir;
    const auto fifo = (dir.path / "fifo").string();
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto policy = config::load_policy(fifo);
    REQUIRE(policy.errors.size() == 1);
    CHECK(policy.errors[0].message == "cannot read policy: not a regular file");

    const auto inc = dir.write("inc.toml", "include = [\"fifo\"]\n");
    auto included = config::load_policy(inc);
    REQUIRE(included.errors.size() == 1);
    CHECK_THAT(included.errors[0].message, Catch::Contains("not a regular file"));

    auto secret = config::load_policy_text("[redis]\npassword_file = \"" + fifo + "\"\n", "p.toml");
    bool refused = false;
    for (const auto& e : secret.errors) {
        refused = refused || e.message.find("is not a regular file") != std::string::npos;
    }
    CHECK(refused);
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
        CHECK_FALSE(config::field_meaning(f.name()).empty());
    }
    CHECK(config::meanings_without_field().empty());
    // The key tables are the schema's: build/staffel_policy_doc --readme
    // policies/README.md rewrites them after a change.
    CHECK(config::readme_with_tables(docs) == docs);
    for (const auto& section : config::documented_sections()) {
        INFO("section " << section);
        CHECK(docs.find("<!-- BEGIN keys " + section + " (generated from the schema) -->\n" +
                        config::markdown_table(section) + "<!-- END keys " + section + " -->") !=
              std::string::npos);
    }
    // The examples themselves must load (keys are not read here).
    for (const char* name : {"example.toml", "hybrid.toml"}) {
        auto r = config::load_policy(std::string(STAFFEL_SOURCE_DIR) + "/policies/" + name);
        INFO(name << ": " << first_error(r));
        CHECK(r.policy);
        if (r.policy && std::string(name) == "hybrid.toml") {
            CHECK(r.policy->routing.routes.size() == 2);
            CHECK(r.policy->routing.streams.front().route == "esp");
        }
    }
}

namespace {

struct FakeKey : core::SigningKey {
    core::DkimAlgorithm alg;
    explicit FakeKey(core::DkimAlgorithm a) : alg(a) {}
    [[nodiscard]] core::DkimAlgorithm algorithm() const override { return alg; }
    [[nodiscard]] core::Result<std::string> sign(std::string_view) const override {
        return std::string("sig");
    }
};

}  // namespace

TEST_CASE("the minimal DKIM form loads, with keys read by the key loader", "[config][dkim]") {
    TempDir dir;
    const auto main = dir.write("p.toml",
                                "[[dkim.keys]]\n"
                                "domain = \"Example.COM\"\n"
                                "selector = \"s2026\"\n"
                                "algorithm = \"rsa-sha256\"\n"
                                "key = \"keys/example.com.s2026.pem\"\n"
                                "[[dkim.keys]]\n"
                                "domain = \"example.com\"\n"
                                "selector = \"ed2026\"\n"
                                "algorithm = \"ed25519-sha256\"\n"
                                "key = \"/etc/staffel/keys/ed.pem\"\n"
                                "subdomains = true\n");
    std::vector<std::string> asked;
    auto r = config::load_policy(
        main,
        [&](const std::string& path,
            core::DkimAlgorithm a) -> core::Result<std::shared_ptr<const core::SigningKey>> {
            asked.push_back(path);
            return std::shared_ptr<const core::SigningKey>(std::make_shared<FakeKey>(a));
        });
    INFO(first_error(r));
    REQUIRE(r.policy);
    const auto& keys = r.policy->dkim.keys;
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].domain == "example.com");  // lower-cased
    CHECK(keys[0].key_path == (dir.path / "keys/example.com.s2026.pem").string());
    CHECK(keys[0].key->algorithm() == core::DkimAlgorithm::RsaSha256);
    CHECK_FALSE(keys[0].subdomains);
    CHECK(keys[1].key_path == "/etc/staffel/keys/ed.pem");
    CHECK(keys[1].subdomains);
    CHECK(keys[1].key->algorithm() == core::DkimAlgorithm::Ed25519Sha256);
    CHECK(asked.size() == 2);
    // Defaults of [dkim].
    CHECK(r.policy->dkim.canonicalization ==
          core::CanonPair{core::Canon::Relaxed, core::Canon::Relaxed});
    CHECK_FALSE(r.policy->dkim.expire);
    CHECK(r.policy->dkim.trusted_networks.size() == 2);
    CHECK(r.policy->dkim.authenticated == core::DkimAuthenticated::OwnDomain);
}

TEST_CASE("a key the key loader refuses is an error at its key = line", "[config][dkim]") {
    TempDir dir;
    const auto main = dir.write("p.toml",
                                "[milter]\nsocket = \"unix:/x\"\n\n"
                                "[[dkim.keys]]\ndomain = \"example.com\"\nselector = \"s\"\n"
                                "key = \"/k.pem\"\n");
    auto r = config::load_policy(
        main,
        [](const std::string& path,
           core::DkimAlgorithm) -> core::Result<std::shared_ptr<const core::SigningKey>> {
            return core::make_error("key file " + path + " is readable by group or others");
        });
    CHECK_FALSE(r.policy);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].to_string() ==
          main + ":7:7: error: dkim.keys.key: key file /k.pem is readable by group or others");
}

TEST_CASE("errors come in file and line order, whatever order the loader found them in",
          "[config]") {
    TempDir dir;
    dir.write("more.toml", "[log]\nlevel = \"loud\"\n");
    // toml++ hands keys over sorted by name: backlog before timeout,
    // [milter] before [redis]; the include is read after the main file.
    const auto main = dir.write("p.toml",
                                "include = [\"more.toml\"]\n"
                                "[redis]\nconnect_timeout = \"5x\"\n"
                                "[milter]\ntimeout = \"5x\"\nbacklog = 0\n");
    auto r = config::load_policy(main);
    CHECK_FALSE(r.policy);
    std::vector<std::string> got;
    for (const auto& e : r.errors) {
        got.push_back(e.file.substr(e.file.rfind('/') + 1) + ":" + std::to_string(e.line) + ":" +
                      std::to_string(e.column) + " " + e.field);
    }
    const std::vector<std::string> want{"p.toml:3:19 redis.connect_timeout",
                                        "p.toml:5:11 milter.timeout", "p.toml:6:11 milter.backlog",
                                        "more.toml:2:9 log.level"};
    CHECK(got == want);
}

TEST_CASE("an unknown time zone says what is accepted once", "[config]") {
    auto r = config::load_policy_text("[general]\ntime_zone = \"No/Such_Zone\"\n", "p.toml");
    REQUIRE(r.errors.size() == 1);
    const auto text = r.errors[0].to_string();
    INFO(text);
    CHECK(text.starts_with("p.toml:2:13: error: general.time_zone: unknown time zone"));
    const std::string hint = "e.g. \"Europe/Berlin\" or \"UTC\"";
    const auto first = text.find(hint);
    CHECK(first != std::string::npos);
    CHECK(text.find(hint, first + 1) == std::string::npos);
}

TEST_CASE("a field's place is known after loading, for checks made later", "[config]") {
    auto r = config::load_policy_text(
        "[milter]\nsocket = \"unix:/x\"\nuser = \"nosuchuser\"\ngroup = \"nosuchgroup\"\n",
        "p.toml");
    REQUIRE(r.policy);
    CHECK(r.error_at("milter.user", "unknown user").to_string() ==
          "p.toml:3:8: error: milter.user: unknown user");
    CHECK(r.error_at("milter.group", "unknown group").to_string() ==
          "p.toml:4:9: error: milter.group: unknown group");
    // A field not set in the policy: the main file, without a line.
    CHECK(r.error_at("milter.backlog", "odd").to_string() == "p.toml: error: milter.backlog: odd");
}

TEST_CASE("[dkim] settings and sender rules load", "[config][dkim]") {
    auto r = config::load_policy_text(
        "[dkim]\n"
        "canonicalization = \"simple/relaxed\"\n"
        "expire = \"7d\"\n"
        "trusted_networks = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n"
        "authenticated = \"none\"\n"
        "sign_headers = [\"From\", \"Subject\"]\n"
        "oversign_headers = []\n"
        "[[dkim.senders]]\n"
        "sasl_user = \"*@tenant-a.example\"\n"
        "domains = [\"tenant-a.example\", \"*.tenant-a.example\"]\n"
        "[[dkim.senders]]\n"
        "networks = [\"192.0.2.0/24\"]\n"
        "domains = [\"*\"]\n",
        "p.toml");
    INFO(first_error(r));
    REQUIRE(r.policy);
    const auto& d = r.policy->dkim;
    CHECK(d.canonicalization == core::CanonPair{core::Canon::Simple, core::Canon::Relaxed});
    CHECK(d.expire == std::chrono::seconds(7 * 86400));
    CHECK(d.trusted_networks.size() == 2);
    CHECK(d.trusted_networks[1].contains("2001:db8::1"));
    CHECK(d.authenticated == core::DkimAuthenticated::None);
    CHECK(d.sign_headers == std::vector<std::string>{"From", "Subject"});
    CHECK(d.oversign_headers.empty());
    REQUIRE(d.senders.size() == 2);
    CHECK(d.senders[0].sasl_user == "*@tenant-a.example");
    CHECK(d.senders[0].domains.size() == 2);
    CHECK(d.senders[1].networks[0].contains("192.0.2.200"));
}

TEST_CASE("[redis] password_file: read once, owner-only, never echoed", "[config][quota]") {
    TempDir dir;
    const auto path = dir.path / "redis.pass";
    {
        std::ofstream out(path);
        out << "s3cret-pass\n";
    }
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const std::string policy = "[redis]\npassword_file = \"" + path.string() + "\"\n";
    auto ok = config::load_policy_text(policy, "p.toml");
    REQUIRE(ok.policy);
    CHECK(ok.policy->redis.password == "s3cret-pass");
    std::filesystem::permissions(path, std::filesystem::perms::group_read,
                                 std::filesystem::perm_options::add);
    auto bad = config::load_policy_text(policy, "p.toml");
    REQUIRE(bad.errors.size() == 1);
    const auto text = bad.errors[0].to_string();
    CHECK_THAT(text, Catch::StartsWith("p.toml:2:17: error: redis.password_file: password file "));
    CHECK_THAT(text, Catch::Contains("has mode 0640; group and others must not have access"));
    CHECK(text.find("s3cret") == std::string::npos);
}

TEST_CASE("[[dkim.keys]] not_before / not_after: RFC 3339 times with an offset", "[config][dkim]") {
    const auto keys = [](const std::string& times) {
        return "[dkim]\noverlap = \"all\"\n[[dkim.keys]]\ndomain = \"example.com\"\n"
               "selector = \"s1\"\nkey = \"/k.pem\"\n" +
               times;
    };
    struct Case {
        std::string times;
        std::optional<std::int64_t> not_before;
        std::optional<std::int64_t> not_after;
    };
    const std::vector<Case> cases{
        {"", std::nullopt, std::nullopt},
        {"not_before = 2026-07-01T00:00:00Z\n", 1782864000, std::nullopt},
        {"not_before = 2026-07-01T02:00:00+02:00\n", 1782864000, std::nullopt},
        {"not_before = \"2026-07-01T00:00:00Z\"\n", 1782864000, std::nullopt},
        {"not_after = \"2026-06-30T19:00:00.5-05:00\"\n", std::nullopt, 1782864000},
        {"not_before = 2026-06-30T00:00:00Z\nnot_after = 2026-07-01T00:00:00Z\n",
         1782864000 - 86400, 1782864000},
    };
    for (const auto& c : cases) {
        INFO(c.times);
        auto r = config::load_policy_text(keys(c.times), "p.toml");
        INFO(first_error(r));
        REQUIRE(r.policy);
        CHECK(r.policy->dkim.overlap == core::DkimOverlap::All);
        CHECK(r.policy->dkim.keys[0].not_before == c.not_before);
        CHECK(r.policy->dkim.keys[0].not_after == c.not_after);
    }
    struct Bad {
        std::string times;
        std::string want;
    };
    const std::vector<Bad> bad{
        {"not_before = \"2026-07-01\"\n",
         "p.toml:7:14: error: dkim.keys.not_before: \"2026-07-01\" is not an RFC 3339 time; "
         "expected an RFC 3339 time with an offset, e.g. 2026-07-01T00:00:00Z or "
         "\"2026-07-01T02:00:00+02:00\""},
        {"not_after = \"2026-02-30T00:00:00Z\"\n",
         "p.toml:7:13: error: dkim.keys.not_after: \"2026-02-30T00:00:00Z\" is not an RFC 3339 "
         "time; expected an RFC 3339 time with an offset, e.g. 2026-07-01T00:00:00Z or "
         "\"2026-07-01T02:00:00+02:00\""},
        {"not_before = 2026-07-01T00:00:00\n",
         "p.toml:7:14: error: dkim.keys.not_before: a date-time without an offset (add Z or "
         "+HH:MM) is refused; expected an RFC 3339 time with an offset, e.g. "
         "2026-07-01T00:00:00Z or \"2026-07-01T02:00:00+02:00\""},
        {"not_before = 2026-07-01\n",
         "p.toml:7:14: error: dkim.keys.not_before: a bare date or time is refused; expected an "
         "RFC 3339 time with an offset, e.g. 2026-07-01T00:00:00Z or "
         "\"2026-07-01T02:00:00+02:00\""},
        {"not_after = 5\n",
         "p.toml:7:13: error: dkim.keys.not_after: expected an RFC 3339 time with an offset, e.g. "
         "2026-07-01T00:00:00Z or \"2026-07-01T02:00:00+02:00\", got an integer"},
        {"not_before = 2026-07-01T00:00:00Z\nnot_after = 2026-07-01T00:00:00Z\n",
         "p.toml:7:14: error: dkim.keys.not_before: expected not_after later than not_before, "
         "got not_before 2026-07-01T00:00:00Z, not_after 2026-07-01T00:00:00Z: the key would "
         "never sign"},
    };
    for (const auto& b : bad) {
        INFO(b.times);
        auto r = config::load_policy_text(keys(b.times), "p.toml");
        CHECK_FALSE(r.policy);
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].to_string() == b.want);
    }
    auto r = config::load_policy_text("[dkim]\noverlap = \"both\"\n", "p.toml");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].to_string() ==
          "p.toml:2:11: error: dkim.overlap: unknown overlap \"both\"; expected one of "
          "\"newest\", \"all\"");
}
