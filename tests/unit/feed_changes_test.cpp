#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "shared/ipc/feed_changes.h"
#include "shared/ipc/login_member_json.h"
#include "shared/ipc/member_profile.h"

namespace feed_changes_test {

using namespace portal;
using namespace portal::ipc;
using nlohmann::json;

namespace {

json changes_json() {
    return json::parse(R"({"revision": 12,
 "upserts": [{"unix_name": "alice", "uid": 200000, "user_id": "usr_1", "role": "owner",
              "status": "active", "tfa_enabled": true, "published": true,
              "keys": [{"line": "ssh-ed25519 AAAAC3Nza alice laptop", "fingerprint_sha256": "SHA256:abc"}]}],
 "removed": ["usr_2"], "enforce_2fa": true, "ssh_ip_allowlist": ["192.0.2.0/24"]})");
}

std::string refusal(const json& j) {
    std::string error;
    CHECK_FALSE(feed_changes_from_json(j.dump(), error));
    return error;
}

}  // namespace

TEST_CASE("feed changes: what the authority writes, an agent reads back", "[feed]") {
    std::string error;
    const auto c = feed_changes_from_json(changes_json().dump(), error);
    REQUIRE(c);
    CHECK(c->revision == 12);
    REQUIRE(c->upserts.size() == 1);
    CHECK(c->upserts[0].unix_name == "alice");
    CHECK(c->upserts[0].keys.size() == 1);
    CHECK(c->removed_user_ids == std::vector<std::string>{"usr_2"});
    CHECK(c->enforce_2fa == true);
    CHECK(c->ip_allowlist == std::vector<std::string>{"192.0.2.0/24"});
    const auto again = feed_changes_from_json(feed_changes_to_json(*c), error);
    REQUIRE(again);
    CHECK(again->upserts == c->upserts);
    CHECK(again->ip_allowlist == c->ip_allowlist);

    json inactive = changes_json();
    inactive["ssh_ip_allowlist"] = nullptr;
    const auto off = feed_changes_from_json(inactive.dump(), error);
    REQUIRE(off);
    CHECK_FALSE(off->ip_allowlist);
    CHECK(feed_changes_to_json(*off).find("\"ssh_ip_allowlist\":null") != std::string::npos);

    json quiet = changes_json();
    quiet.erase("enforce_2fa");
    quiet.erase("ssh_ip_allowlist");
    const auto plain = feed_changes_from_json(quiet.dump(), error);
    REQUIRE(plain);
    CHECK_FALSE(plain->enforce_2fa);
    CHECK(feed_changes_to_json(*plain).find("enforce_2fa") == std::string::npos);
}

TEST_CASE("feed changes: anything odd is refused whole, naming the field", "[feed]") {
    CHECK_FALSE(refusal(json::parse("[1]")).empty());
    std::string error;
    CHECK_FALSE(feed_changes_from_json("{\"revision\":", error));
    CHECK(error == "not valid JSON");

    json j = changes_json();
    j["revision"] = -1;
    CHECK(refusal(j).find("revision") == 0);
    j = changes_json();
    j["upserts"][0]["role"] = "admin";
    CHECK(refusal(j).find("upserts[0].role") == 0);
    j = changes_json();
    j["upserts"][0]["keys"][0]["line"] = "ssh-ed25519 AAAA\ncommand=\"x\" ssh-rsa AAAA";
    CHECK(refusal(j).find("upserts[0].keys[0].line") == 0);
    j = changes_json();
    j["upserts"][0]["secret"] = "x";
    CHECK(refusal(j).find("upserts[0].secret") == 0);
    j = changes_json();
    j["upserts"].push_back(j["upserts"][0]);
    CHECK(refusal(j).find("upserts[1].user_id") == 0);
    j = changes_json();
    j["upserts"].push_back(j["upserts"][0]);
    j["upserts"][1]["user_id"] = "usr_3";
    CHECK(refusal(j).find("upserts[1].unix_name") == 0);
    j = changes_json();
    j["removed"] = {"usr_1"};
    CHECK(refusal(j).find("removed[0]") == 0);
    j = changes_json();
    j["removed"] = {""};
    CHECK(refusal(j).find("removed[0]") == 0);
    j = changes_json();
    j["ssh_ip_allowlist"] = {"10.0.0.1/8"};
    CHECK(refusal(j).find("ssh_ip_allowlist[0]") == 0);
    j = changes_json();
    j["ssh_ip_allowlist"] = {"2001:DB8::/32"};
    CHECK(refusal(j).find("not canonical") != std::string::npos);
    j = changes_json();
    j.erase("ssh_ip_allowlist");
    CHECK(refusal(j).find("ssh_ip_allowlist") == 0);
    j = changes_json();
    j.erase("enforce_2fa");
    CHECK(refusal(j).find("ssh_ip_allowlist") == 0);
    j = changes_json();
    j["members"] = json::array();
    CHECK(refusal(j).find("members") == 0);
}

TEST_CASE("feed changes: members' profiles and the account's name, for an agent's reads", "[feed]") {
    json j = changes_json();
    j["account_name"] = "Acme";
    j["upserts"][0]["profile"] = json::parse(R"({"email": "alice@example.com", "name": "Alice",
        "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-02T10:00:00Z", "joined_at": "2026-12-01T10:00:01Z",
        "keys": [{"fingerprint_sha256": "SHA256:abc", "fingerprint": "aa:bb", "name": "laptop",
                  "labels": {"env": "prod"}, "created_at": "2026-12-01T11:00:00Z", "updated_at": "2026-12-01T11:00:00Z"}]})");
    std::string error;
    const auto c = feed_changes_from_json(j.dump(), error);
    INFO(error);
    REQUIRE(c);
    CHECK(c->account_name == "Acme");
    const auto profile = read_profile(c->upserts[0]);
    REQUIRE(profile);
    CHECK(profile->email == "alice@example.com");
    CHECK(profile->keys.at(0).labels.at("env") == "prod");
    const auto again = feed_changes_from_json(feed_changes_to_json(*c), error);
    REQUIRE(again);
    CHECK(again->upserts == c->upserts);
    CHECK(again->account_name == c->account_name);
    // A different profile is a different member (the agent writes it down).
    auto other = *c;
    auto renamed = *profile;
    renamed.name = "Alice B.";
    other.upserts[0].profile = profile_text(renamed);
    CHECK_FALSE(other.upserts[0] == c->upserts[0]);

    // Strict like the rest: unknown fields, wrong types, the name without the account's flags.
    json bad = j;
    bad["upserts"][0]["profile"]["password"] = "x";
    CHECK(refusal(bad).find("upserts[0].profile.password") == 0);
    bad = j;
    bad["upserts"][0]["profile"]["keys"][0]["labels"]["env"] = 1;
    CHECK(refusal(bad).find("upserts[0].profile.keys[0].labels") == 0);
    bad = j;
    bad["upserts"][0]["profile"].erase("email");
    CHECK(refusal(bad).find("upserts[0].profile.email") == 0);
    bad = j;
    bad["upserts"][0]["profile"]["name"] = std::string(2000, 'x');
    CHECK(refusal(bad).find("upserts[0].profile.name") == 0);
    bad = j;
    bad.erase("enforce_2fa");
    bad.erase("ssh_ip_allowlist");
    CHECK(refusal(bad).find("account_name") == 0);
}

}  // namespace feed_changes_test
