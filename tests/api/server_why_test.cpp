// GET /v1/server/why: the login rules' own verdicts for one member, on the snapshot the login
// socket answers from. Root asks about anyone, a member only about themself.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

// The login state follows API writes a moment later: ask until `done` holds (or 10 s).
HttpResult why_until(const Daemon& d, const std::string& query, const std::function<bool(const nlohmann::json&)>& done,
                     uid_t uid = 0) {
    HttpResult r;
    for (int i = 0; i < 200; ++i) {
        r = d.get("/v1/server/why?" + query, uid);
        if (r.status == 200 && done(r.json)) return r;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return r;
}

const nlohmann::json& why_rule(const nlohmann::json& answer, const std::string& name) {
    for (const auto& r : answer.at("rules"))
        if (r.at("rule") == name) return r;
    throw std::runtime_error("no rule " + name + " in " + answer.dump());
}

std::string unix_name_of(const Member& m) { return m.json.at("unix_name").get<std::string>(); }

bool is_member(const nlohmann::json& j) { return j.at("member").is_object(); }

// A query value: '+' (in SHA256 fingerprints) would arrive as a space.
std::string why_query_value(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '+' ? std::string("%2B") : std::string(1, c);
    return out;
}

}  // namespace

TEST_CASE("server why: an active member is allowed and a deactivated one fails the status rule", "[api][why]") {
    Daemon d("why-status");
    const auto seed = seed_account(d);
    const auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const std::string name = unix_name_of(mgr);

    auto ok = why_until(d, "user=" + name, is_member);
    INFO(ok.describe());
    REQUIRE(ok.status == 200);
    CHECK(ok.json["allow"] == true);
    CHECK(ok.json["reason"] == "allowed");
    CHECK(ok.json["member"]["uid"] == mgr.uid);
    CHECK(ok.json["member"]["role"] == "manager");
    CHECK(ok.json["member"]["status"] == "active");
    CHECK(ok.json["member"]["tfa_enabled"] == false);
    CHECK(ok.json["state"]["account_id"] == seed.account_id);
    CHECK(ok.json["state"]["revision"].get<long>() > 0);
    CHECK(ok.json["state"]["generated_at"].is_string());
    CHECK(ok.json["rules"].size() == 9);
    for (const auto& r : ok.json["rules"]) CHECK(r["pass"] == true);
    CHECK(why_rule(ok.json, "role")["detail"] == "role manager; allowed: owner, manager");

    REQUIRE(d.put("/v1/account/users/" + mgr.id, {{"status", "deactivated"}}, 0, account_header(seed.account_id)).status ==
            200);
    auto gone = why_until(d, "user=" + name, [](const nlohmann::json& j) { return j["allow"] == false; });
    INFO(gone.describe());
    REQUIRE(gone.status == 200);
    CHECK(gone.json["reason"] == "deactivated");
    CHECK(gone.json["message"] == "Your portal access to this server has been deactivated.");
    CHECK(why_rule(gone.json, "status")["pass"] == false);
    CHECK(why_rule(gone.json, "status")["reason"] == "deactivated");
    CHECK(why_rule(gone.json, "status")["detail"] == "status deactivated");
    CHECK(why_rule(gone.json, "role")["pass"] == true);  // every rule is judged, not only the first failure

    // Not a member: not ours, one rule.
    auto stranger = d.get("/v1/server/why?user=nosuchuser");
    REQUIRE(stranger.status == 200);
    CHECK(stranger.json["portal_user"] == false);
    CHECK(stranger.json["reason"] == "not_portal_user");
    CHECK(stranger.json["member"].is_null());
    CHECK(stranger.json["rules"].size() == 1);
}

TEST_CASE("server why: a role that [login] roles does not allow", "[api][why]") {
    DaemonOptions o;
    o.extra_toml = "[login]\nroles = [\"owner\"]\n";
    Daemon d("why-roles", o);
    const auto seed = seed_account(d);
    const auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    auto r = why_until(d, "user=" + unix_name_of(mgr), is_member);
    INFO(r.describe());
    REQUIRE(r.status == 200);
    CHECK(r.json["allow"] == false);
    // A member the rules refuse is not published here (not a user at all): the trace goes on
    // and shows why.
    CHECK(r.json["reason"] == "not_published");
    CHECK(why_rule(r.json, "published")["pass"] == false);
    CHECK(why_rule(r.json, "role")["pass"] == false);
    CHECK(why_rule(r.json, "role")["reason"] == "role_not_allowed");
    CHECK(why_rule(r.json, "role")["detail"] == "role manager; allowed: owner");
    CHECK(why_rule(r.json, "status")["pass"] == true);
    auto owner = why_until(d, "user=" + unix_name_of(seed.owner), is_member);
    CHECK(owner.json["allow"] == true);
}

TEST_CASE("server why: the IP allowlist applied to SSH judges the address asked about", "[api][why][allowlist]") {
    DaemonOptions o;
    o.extra_toml = "[login]\napply_ip_allowlist = true\n";
    Daemon d("why-allowlist", o);
    const auto seed = seed_account(d);
    const auto hdr = account_header(seed.account_id);
    const std::string name = unix_name_of(seed.owner);
    auto before = why_until(d, "user=" + name + "&from=198.51.100.7", is_member);
    REQUIRE(before.status == 200);
    CHECK(before.json["allow"] == true);
    CHECK(why_rule(before.json, "ip_allowlist")["detail"] == "not applied to SSH on this server");

    REQUIRE(d.post("/v1/account/ip_allowlist/entries", {{"cidr", "192.0.2.0/24"}}, 0, hdr).status == 201);
    REQUIRE(d.put("/v1/account/ip_allowlist", {{"active", true}}, 0, hdr).status == 200);
    auto outside = why_until(d, "user=" + name + "&from=198.51.100.7", [](const nlohmann::json& j) { return j["allow"] == false; });
    INFO(outside.describe());
    REQUIRE(outside.status == 200);
    CHECK(outside.json["from"] == "198.51.100.7");
    CHECK(outside.json["reason"] == "ip_not_allowed");
    CHECK(why_rule(outside.json, "ip_allowlist")["pass"] == false);
    CHECK(why_rule(outside.json, "ip_allowlist")["detail"] == "198.51.100.7 not listed: 192.0.2.0/24");
    auto inside = d.get("/v1/server/why?user=" + name + "&from=192.0.2.10");
    REQUIRE(inside.status == 200);
    CHECK(inside.json["allow"] == true);
    CHECK(why_rule(inside.json, "ip_allowlist")["detail"] == "192.0.2.10 listed by 192.0.2.0/24");
    // Without an address, the rule is left to each connection.
    auto any = d.get("/v1/server/why?user=" + name);
    CHECK(any.json["allow"] == true);
    CHECK(why_rule(any.json, "ip_allowlist")["pass"] == true);
}

TEST_CASE("server why: the key asked about is one of the member's, in either fingerprint form", "[api][why][keys]") {
    Daemon d("why-keys");
    const auto seed = seed_account(d);
    const auto hdr = account_header(seed.account_id);
    const auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const auto theirs = ssh_keygen(d.dir(), "theirs");
    const auto other = ssh_keygen(d.dir(), "other");
    REQUIRE(d.post("/v1/ssh_keys", {{"name", "laptop"}, {"public_key", theirs.public_line}, {"user_id", mgr.id}}, 0, hdr)
                .status == 201);
    const std::string name = unix_name_of(mgr);
    auto has_key = [](const nlohmann::json& j) { return j["member"].is_object() && j["member"]["keys"] == 1; };

    auto right = why_until(d, "user=" + name + "&key=" + why_query_value(theirs.sha256), has_key);
    INFO(right.describe());
    REQUIRE(right.status == 200);
    CHECK(right.json["key_match"]["matches"] == true);
    CHECK(right.json["key_match"]["fingerprint"] == theirs.sha256);
    auto md5 = d.get("/v1/server/why?user=" + name + "&key=MD5:" + theirs.md5);
    CHECK(md5.json["key_match"]["matches"] == true);
    auto wrong = d.get("/v1/server/why?user=" + name + "&key=" + why_query_value(other.sha256));
    REQUIRE(wrong.status == 200);
    CHECK(wrong.json["key_match"]["matches"] == false);
    CHECK(wrong.json["allow"] == true);  // the rules pass; that key is not theirs
    CHECK(d.get("/v1/server/why?user=" + name + "&key=" + other.md5).json["key_match"]["matches"] == false);
}

TEST_CASE("server why: root asks about anyone, a member only about themself - queries are checked", "[api][why][guard]") {
    Daemon d("why-guard");
    const auto seed = seed_account(d);
    const auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const std::string mine = unix_name_of(mgr), owners = unix_name_of(seed.owner);
    REQUIRE(why_until(d, "user=" + mine, is_member).status == 200);

    auto self = d.get("/v1/server/why?user=" + mine, mgr.uid);
    INFO(self.describe());
    CHECK(self.status == 200);
    CHECK(self.json["member"]["uid"] == mgr.uid);
    auto about_owner = d.get("/v1/server/why?user=" + owners, mgr.uid);
    CHECK(about_owner.status == 403);
    CHECK(about_owner.json.dump().find(owners) == std::string::npos);  // nothing about them
    // A name that is nobody's is not the caller's either: 403, not a hint that it does not exist.
    CHECK(d.get("/v1/server/why?user=nosuchuser", mgr.uid).status == 403);
    CHECK(d.get("/v1/server/why?user=" + owners).status == 200);
    CHECK(d.get("/v1/server/why?user=" + mine, seed.owner.uid).status == 403);

    // The query names what is wrong.
    auto missing = d.get("/v1/server/why");
    CHECK(missing.status == 400);
    CHECK(missing.json["message"].get<std::string>().find("user") != std::string::npos);
    auto bad_user = d.get("/v1/server/why?user=Bad%20Name");
    CHECK(bad_user.status == 422);
    CHECK(bad_user.json["errors"].contains("user"));
    auto bad_from = d.get("/v1/server/why?user=" + mine + "&from=host.example.com");
    CHECK(bad_from.status == 422);
    CHECK(bad_from.json["errors"].contains("from"));
    auto bad_key = d.get("/v1/server/why?user=" + mine + "&key=SHA256:short");
    CHECK(bad_key.status == 422);
    CHECK(bad_key.json["errors"].contains("key"));
    CHECK(d.get("/v1/server/why?user=" + mine + "&user=" + owners).status == 400);
    CHECK(d.get("/v1/server/why?user=" + mine + "&color=red").status == 400);
}
