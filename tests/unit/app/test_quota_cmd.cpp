// test_quota_cmd.cpp - `staffelctl quota show`: which limits a KEY lists,
// over a fake counter store. A key is a sender address, a domain, a SASL
// login, a stream name or a client IP; a limit is listed only when the key
// can be what it is keyed on.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../core/fake_counter_store.hpp"
#include "app/quota_cmd.hpp"
#include "config/loader.hpp"

using namespace staffel;

namespace {

const char* kPolicy = R"([routing]
default_stream = "transactional"
[[stream]]
name = "bulk"
headers = ["Precedence: bulk"]
[[quota]]
name = "per-sender"
key = "sender"
limit = "100/1h"
[[quota]]
name = "per-domain"
key = "sender_domain"
limit = "1000/1h"
[[quota]]
name = "per-login"
key = "sasl_user"
limit = "300/1m"
[[quota]]
name = "per-stream"
key = "stream"
limit = "5000/1h"
[[quota]]
name = "per-ip"
key = "client_ip"
limit = "50/1m"
)";

// The LIMIT column of every line after the header.
std::vector<std::string> listed(const std::string& key) {
    auto r = config::load_policy_text(kPolicy, "p.toml");
    for (const auto& e : r.errors) {
        FAIL(e.to_string());
    }
    test::FakeCounterStore store;
    std::ostringstream out, err;
    app::quota_show(*r.policy, store, key, 1795478400, out, err);
    std::vector<std::string> names;
    std::istringstream lines(out.str());
    std::string line;
    std::getline(lines, line);  // the header
    while (std::getline(lines, line)) {
        names.push_back(line.substr(0, line.find(' ')));
    }
    return names;
}

}  // namespace

TEST_CASE("quota show lists the limits a key can be keyed on", "[quota][staffelctl]") {
    using V = std::vector<std::string>;
    struct Case {
        std::string key;
        V want;
    };
    const Case cases[] = {
        // A login may look like an address.
        // A login may look like an address; the domain's limit is shown
        // with the domain as KEY.
        {"alice@example.com", V{"per-sender", "per-login"}},
        // A domain is not a SASL login, nor a stream.
        {"news.example.com", V{"per-domain"}},
        // A stream the policy knows is not a login, nor a domain.
        {"bulk", V{"per-stream"}},
        {"transactional", V{"per-stream"}},
        // A bare name that is no stream: a login.
        {"alice", V{"per-login"}},
        {"192.0.2.1", V{"per-ip"}},
    };
    for (const auto& c : cases) {
        INFO("quota show " << c.key);
        CHECK(listed(c.key) == c.want);
    }
}

TEST_CASE("a sasl_user limit narrowed to logins that look like domains lists them",
          "[quota][staffelctl]") {
    auto r = config::load_policy_text(
        "[[quota]]\nname = \"hosts\"\nkey = \"sasl_user\"\nlimit = \"10/1m\"\n"
        "sasl_users = [\"relay1.example.com\"]\n",
        "p.toml");
    REQUIRE(r.policy);
    test::FakeCounterStore store;
    std::ostringstream out, err;
    CHECK(app::quota_show(*r.policy, store, "relay1.example.com", 1795478400, out, err) == 0);
    CHECK_THAT(out.str(), Catch::Contains("hosts"));
}
