// Hosts and the IAM feed (issue 10): an owner's one-use enrolment token, a host registering
// over HTTPS with it, and the host token reading its account's state (ETag, 304) and only
// what changed since a revision (410 past what the log keeps).
#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <thread>
#include <vector>
#include <string>

#include "keyd/iam/authority/tokens.h"
#include "keyd/store/store.h"
#include "keyd/store/timestamp.h"
#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

DaemonOptions feed_daemon_options() {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\n";
    return o;
}

struct HostCredentials {
    std::string host_id, host_token;
};

std::string new_enrolment_token(const Daemon& d, const std::string& account_id) {
    auto e = d.post("/v1/hosts/enrolments", {{"name", "web-1"}, {"labels", {{"role", "web"}}}}, 0,
                    account_header(account_id));
    INFO(e.describe());
    REQUIRE(e.status == 201);
    return e.json.at("token");
}

HostCredentials register_test_host(const HttpsTarget& https, const std::string& token, const std::string& hostname = "web-1") {
    auto r = https_request(https, "", "POST", "/v1/hosts/register",
                           nlohmann::json{{"token", token}, {"hostname", hostname}, {"version", "0.1.0"}}.dump());
    INFO(r.describe());
    REQUIRE(r.status == 201);
    return {r.json.at("host_id"), r.json.at("host_token")};
}

std::set<std::string> feed_user_ids(const nlohmann::json& members) {
    std::set<std::string> out;
    for (const auto& m : members) out.insert(m.at("user_id").get<std::string>());
    return out;
}

}  // namespace

TEST_CASE("hosts: a one-use enrolment token makes a host - deleting the host stops its token at once", "[api][hosts][https]") {
    Daemon d("hosts-enrol", feed_daemon_options());
    const auto seed = seed_account(d);
    const HttpsTarget https = https_listener(d);
    const std::string token = new_enrolment_token(d, seed.account_id);
    CHECK(token.starts_with("pk_enrol_"));

    const HostCredentials host = register_test_host(https, token);
    CHECK(host.host_token.starts_with("pk_host_"));
    // Used once: a second registration with it is refused like a made-up token.
    auto again = https_request(https, "", "POST", "/v1/hosts/register",
                               nlohmann::json{{"token", token}, {"hostname", "web-2"}, {"version", "0.1.0"}}.dump());
    CHECK(again.status == 401);
    auto bad = https_request(https, "", "POST", "/v1/hosts/register", R"({"token":"pk_enrol_x","hostname":"h","version":"1"})");
    CHECK(bad.status == 401);
    auto missing = https_request(https, "", "POST", "/v1/hosts/register", R"({"hostname":"h","version":"1"})");
    CHECK(missing.status == 422);
    CHECK(missing.json["errors"].contains("token"));

    auto list = d.get("/v1/hosts", seed.owner.uid);
    REQUIRE(list.status == 200);
    REQUIRE(list.json.size() == 1);
    CHECK(list.json[0]["id"] == host.host_id);
    CHECK(list.json[0]["hostname"] == "web-1");
    CHECK(list.json[0]["version"] == "0.1.0");
    CHECK(list.json[0]["labels"]["role"] == "web");  // from the enrolment
    CHECK(list.json[0]["last_seen_at"].is_null());
    CHECK(list.json[0]["status"] == "registered");

    REQUIRE(https_request(https, host.host_token, "GET", "/v1/iam/state").status == 200);
    auto seen = d.get("/v1/hosts/" + host.host_id, seed.owner.uid);
    CHECK(seen.json["last_seen_at"].is_string());
    CHECK(seen.json["status"] == "online");
    CHECK(seen.json["revision"] == d.get("/v1/server", 0, account_header(seed.account_id)).json["revision"]);

    // Not seen for longer than a long-poll's round: stale.
    d.stop();
    portal::store::Store::open(d.database())->hosts().seen(host.host_id, "2026-01-01T00:00:00Z", 0);
    d.start();
    auto old = d.get("/v1/hosts/" + host.host_id, seed.owner.uid);
    CHECK(old.json["status"] == "stale");

    CHECK(d.del("/v1/hosts/" + host.host_id, seed.owner.uid).status == 204);
    auto gone = https_request(https_listener(d), host.host_token, "GET", "/v1/iam/state");  // a new port since the restart
    CHECK(gone.status == 401);
    CHECK(gone.header("www-authenticate").find("invalid_token") != std::string::npos);
}

TEST_CASE("hosts: an expired enrolment token registers nothing", "[api][hosts][https]") {
    Daemon d("hosts-expired", feed_daemon_options());
    const auto seed = seed_account(d);
    d.stop();
    const std::string secret = "pk_enrol_" + std::string(43, 'e');
    {
        auto store = portal::store::Store::open(d.database());
        portal::HostEnrolment e;
        e.id = "enr_old";
        e.account_id = seed.account_id;
        e.created_at = "2026-01-01T00:00:00Z";
        e.expires_at = "2026-01-01T01:00:00Z";
        store->hosts().insert_enrolment(e, portal::iam::authority::credential_hash(secret));
    }
    d.start();
    auto r = https_request(https_listener(d), "", "POST", "/v1/hosts/register",
                           nlohmann::json{{"token", secret}, {"hostname", "h"}, {"version", "1"}}.dump());
    CHECK(r.status == 401);
    CHECK(d.get("/v1/hosts", seed.owner.uid).json.empty());
}

TEST_CASE("iam feed: the state with an ETag, then only what changed", "[api][feed][https]") {
    Daemon d("feed", feed_daemon_options());
    const auto seed = seed_account(d);
    const auto other = seed_account(d, "B", "b");
    const HttpsTarget https = https_listener(d);
    std::vector<Member> members;
    for (int i = 0; i < 20; ++i)
        members.push_back(add_member(d, seed.account_id, "m" + std::to_string(i) + "@example.com", "manager"));
    const HostCredentials host = register_test_host(https, new_enrolment_token(d, seed.account_id));

    auto state = https_request(https, host.host_token, "GET", "/v1/iam/state");
    REQUIRE(state.status == 200);
    CHECK(state.json["account_id"] == seed.account_id);
    CHECK(state.json["members"].size() == 21);
    const std::uint64_t revision = state.json.at("revision");
    CHECK(state.header("etag") == "\"" + std::to_string(revision) + "\"");
    CHECK(state.body.find("secret") == std::string::npos);
    auto same = https_request(https, host.host_token, "GET", "/v1/iam/state", std::nullopt,
                              {{"If-None-Match", state.header("etag")}});
    CHECK(same.status == 304);
    CHECK(same.body.empty());

    auto none = https_request(https, host.host_token, "GET", "/v1/iam/changes?since=" + std::to_string(revision));
    REQUIRE(none.status == 200);
    CHECK(none.json["revision"] == revision);
    CHECK(none.json["upserts"].empty());
    CHECK(none.json["removed"].empty());

    SECTION("one key: one member, a few hundred bytes") {
        const std::string key = fresh_ed25519_line();
        REQUIRE(d.post("/v1/ssh_keys", {{"name", "laptop"}, {"public_key", key}, {"user_id", members[7].id}}, 0,
                       account_header(seed.account_id))
                    .status == 201);
        auto c = https_request(https, host.host_token, "GET", "/v1/iam/changes?since=" + std::to_string(revision));
        REQUIRE(c.status == 200);
        INFO(c.body);
        CHECK(c.json["revision"] == revision + 1);
        REQUIRE(c.json["upserts"].size() == 1);
        CHECK(c.json["upserts"][0]["user_id"] == members[7].id);
        CHECK(c.json["upserts"][0]["keys"].size() == 1);
        CHECK(c.body.size() < 2048);
        CHECK_FALSE(c.json.contains("enforce_2fa"));
        auto fresh = https_request(https, host.host_token, "GET", "/v1/iam/state", std::nullopt,
                                   {{"If-None-Match", state.header("etag")}});
        CHECK(fresh.status == 200);  // the ETag moved on
    }
    SECTION("removed and deactivated members, the account's flag") {
        REQUIRE(d.del("/v1/account/users/" + members[1].id, 0, account_header(seed.account_id)).status == 204);
        REQUIRE(d.put("/v1/account/users/" + members[2].id, {{"status", "deactivated"}}, 0,
                      account_header(seed.account_id))
                    .status == 200);
        REQUIRE(d.put("/v1/account", {{"name", "Renamed"}}, 0, account_header(seed.account_id)).status == 200);
        auto c = https_request(https, host.host_token, "GET", "/v1/iam/changes?since=" + std::to_string(revision));
        REQUIRE(c.status == 200);
        INFO(c.body);
        CHECK(feed_user_ids(c.json["upserts"]) == std::set<std::string>{members[2].id});
        CHECK(c.json["upserts"][0]["status"] == "deactivated");
        CHECK(c.json["removed"] == nlohmann::json::array({members[1].id}));
        CHECK(c.json["enforce_2fa"] == false);
    }
    SECTION("the account's IP allowlist travels with its flags, for hosts that apply it to SSH") {
        CHECK_FALSE(state.json.contains("ssh_ip_allowlist"));  // inactive
        REQUIRE(d.post("/v1/account/ip_allowlist/entries", {{"cidr", "192.0.2.0/24"}}, 0, account_header(seed.account_id))
                    .status == 201);
        REQUIRE(d.put("/v1/account/ip_allowlist", {{"active", true}}, 0, account_header(seed.account_id)).status == 200);
        auto c = https_request(https, host.host_token, "GET", "/v1/iam/changes?since=" + std::to_string(revision));
        REQUIRE(c.status == 200);
        INFO(c.body);
        CHECK(c.json["upserts"].empty());
        CHECK(c.json["ssh_ip_allowlist"] == nlohmann::json::array({"192.0.2.0/24"}));
        auto now = https_request(https, host.host_token, "GET", "/v1/iam/state");
        CHECK(now.json["ssh_ip_allowlist"] == nlohmann::json::array({"192.0.2.0/24"}));
        REQUIRE(d.put("/v1/account/ip_allowlist", {{"active", false}}, 0, account_header(seed.account_id)).status == 200);
        auto off = https_request(https, host.host_token, "GET",
                                 "/v1/iam/changes?since=" + now.json.at("revision").dump());
        CHECK(off.json["ssh_ip_allowlist"].is_null());
    }
    SECTION("another account's changes are not in it") {
        auto b_member = add_member(d, other.account_id, "b1@example.com", "manager");
        REQUIRE(d.put("/v1/profile", {{"name", "B's member"}}, b_member.uid).status == 200);
        auto c = https_request(https, host.host_token, "GET", "/v1/iam/changes?since=" + std::to_string(revision));
        REQUIRE(c.status == 200);
        INFO(c.body);
        CHECK(c.json["upserts"].empty());
        CHECK(c.json["removed"].empty());
        CHECK(c.body.find(b_member.id) == std::string::npos);
        // Nor can the host ask for it.
        auto b = https_request(https, host.host_token, "GET", "/v1/iam/state", std::nullopt,
                               account_header(other.account_id));
        CHECK(b.status == 404);
    }
    SECTION("bad since and wait are named; a revision from the future is 410") {
        for (const std::string q : {"", "?since=", "?since=abc", "?since=-1", "?since=1e3"}) {
            auto r = https_request(https, host.host_token, "GET", "/v1/iam/changes" + q);
            INFO(q << " -> " << r.describe());
            CHECK(r.status == 400);
            CHECK(r.json["message"].get<std::string>().starts_with("since"));
        }
        auto w = https_request(https, host.host_token, "GET", "/v1/iam/changes?since=0&wait=301");
        CHECK(w.status == 400);
        CHECK(w.json["message"].get<std::string>().starts_with("wait"));
        auto future = https_request(https, host.host_token, "GET",
                                    "/v1/iam/changes?since=" + std::to_string(revision + 1000));
        CHECK(future.status == 410);
        CHECK(future.json["code"] == "GONE");
    }
    SECTION("a host token reaches nothing but the feed") {
        for (const std::string path : {"/v1/account", "/v1/account/users", "/v1/profile", "/v1/hosts", "/v1/api_tokens"}) {
            auto r = https_request(https, host.host_token, "GET", path);
            INFO(path);
            CHECK(r.status == 403);
        }
    }
}

namespace {

// Waits until the daemon's log shows `count` long-polls registered.
bool polls_waiting(const Daemon& d, std::size_t count) {
    for (int i = 0; i < 200; ++i) {
        const std::string log = d.log();
        std::size_t n = 0;
        for (auto at = log.find("feed: long-poll waiting"); at != std::string::npos;
             at = log.find("feed: long-poll waiting", at + 1))
            ++n;
        if (n >= count) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace

TEST_CASE("iam feed: a long-poll is answered by the change it waited for", "[api][feed][https][longpoll]") {
    Daemon d("feed-poll", feed_daemon_options());
    const auto seed = seed_account(d);
    const auto other = seed_account(d, "B", "b");
    const HttpsTarget https = https_listener(d);
    auto member = add_member(d, seed.account_id, "m@example.com", "manager");
    const HostCredentials host = register_test_host(https, new_enrolment_token(d, seed.account_id));
    const std::uint64_t revision =
        https_request(https, host.host_token, "GET", "/v1/iam/state").json.at("revision").get<std::uint64_t>();
    const std::string poll = "/v1/iam/changes?since=" + std::to_string(revision);

    SECTION("a key added while it waits: the answer carries it (long before wait=300 s)") {
        HttpResult answer;
        std::thread poller([&] { answer = https_request(https, host.host_token, "GET", poll + "&wait=300"); });
        REQUIRE(polls_waiting(d, 1));
        // Another account's write does not answer it; this account's does.
        REQUIRE(d.put("/v1/account", {{"name", "B2"}}, 0, account_header(other.account_id)).status == 200);
        REQUIRE(d.post("/v1/ssh_keys", {{"name", "k"}, {"public_key", fresh_ed25519_line()}, {"user_id", member.id}}, 0,
                       account_header(seed.account_id))
                    .status == 201);
        poller.join();
        INFO(answer.describe());
        REQUIRE(answer.status == 200);  // the client's own limit is 30 s: an answer at wait's end fails here
        REQUIRE(answer.json["upserts"].size() == 1);
        CHECK(answer.json["upserts"][0]["user_id"] == member.id);
        CHECK(answer.json["revision"].get<std::uint64_t>() == revision + 2);
    }
    SECTION("nothing changes here: answered empty when wait ends, with the revision to poll from") {
        HttpResult answer;
        std::thread poller([&] { answer = https_request(https, host.host_token, "GET", poll + "&wait=1"); });
        REQUIRE(polls_waiting(d, 1));
        REQUIRE(d.put("/v1/account", {{"name", "B2"}}, 0, account_header(other.account_id)).status == 200);
        poller.join();
        INFO(answer.describe());
        REQUIRE(answer.status == 200);
        CHECK(answer.json["upserts"].empty());
        CHECK(answer.json["removed"].empty());
        CHECK(answer.json["revision"].get<std::uint64_t>() == revision + 1);
    }
    SECTION("a host deleted while it waits gets no further answer") {
        HttpResult answer;
        std::thread poller([&] { answer = https_request(https, host.host_token, "GET", poll + "&wait=300"); });
        REQUIRE(polls_waiting(d, 1));
        REQUIRE(d.del("/v1/hosts/" + host.host_id, 0, account_header(seed.account_id)).status == 204);
        REQUIRE(d.post("/v1/ssh_keys", {{"name", "k"}, {"public_key", fresh_ed25519_line()}, {"user_id", member.id}}, 0,
                       account_header(seed.account_id))
                    .status == 201);
        poller.join();
        INFO(answer.describe());
        CHECK(answer.status == 401);
        CHECK(answer.header("www-authenticate").find("invalid_token") != std::string::npos);
        CHECK(answer.body.find(member.id) == std::string::npos);
    }
    SECTION("polls still waiting when the daemon stops: it stops cleanly") {
        std::vector<std::thread> pollers;
        std::vector<HttpResult> answers(3);
        for (int i = 0; i < 3; ++i)
            pollers.emplace_back([&, i] { answers[i] = https_request(https, host.host_token, "GET", poll + "&wait=300"); });
        REQUIRE(polls_waiting(d, 3));
        CHECK(d.stop() == 0);
        for (auto& t : pollers) t.join();
        d.start();
    }
}

TEST_CASE("iam feed: a host checks a member's code at the authority, with its replay mark and limits",
          "[api][feed][https][tfa]") {
    DaemonOptions o = feed_daemon_options();
    o.tfa_max_failures = 3;
    Daemon d("feed-tfa", o);
    const auto seed = seed_account(d);
    const auto other = seed_account(d, "B", "b");
    const HttpsTarget https = https_listener(d);
    auto member = add_member(d, seed.account_id, "m@example.com", "manager");
    const auto enrolled = enrol_tfa(d, member.uid);
    const HostCredentials host = register_test_host(https, new_enrolment_token(d, seed.account_id));
    auto verify = [&](const std::string& user_id, const std::string& code) {
        return https_request(https, host.host_token, "POST", "/v1/iam/tfa/verify",
                             nlohmann::json{{"user_id", user_id}, {"code", code}, {"host", "web-1"}, {"ip", "192.0.2.9"}}
                                 .dump());
    };

    const std::string code = totp_now(enrolled.secret, 1);
    auto ok = verify(member.id, code);
    INFO(ok.describe());
    REQUIRE(ok.status == 200);
    CHECK(ok.json["ok"] == true);
    CHECK(verify(member.id, code).json["result"] == "wrong_code");  // spent: replay refused
    CHECK(verify(other.owner.id, "123456").status == 404);          // not this host's account
    CHECK(verify(seed.owner.id, "123456").json["result"] == "not_enrolled");
    const std::string wrong = wrong_totp(enrolled.secret);
    verify(member.id, wrong);
    verify(member.id, wrong);
    auto locked = verify(member.id, wrong);
    CHECK(locked.json["result"] == "locked");
    CHECK(locked.json["retry_after"].get<long>() > 0);
    CHECK(d.log().find(enrolled.secret) == std::string::npos);
}

TEST_CASE("iam feed: login events are kept once, become the account's history and last_login", "[api][feed][https]") {
    Daemon d("feed-events", feed_daemon_options());
    const auto seed = seed_account(d);
    const HttpsTarget https = https_listener(d);
    auto member = add_member(d, seed.account_id, "m@example.com", "manager");
    const HostCredentials host = register_test_host(https, new_enrolment_token(d, seed.account_id), "web-7");
    const nlohmann::json batch = nlohmann::json::array(
        {{{"id", "ev-1"}, {"at", "2026-12-02T10:00:00Z"}, {"unix_name", member.json["unix_name"]}, {"user_id", member.id},
          {"ip", "192.0.2.1"}, {"method", "publickey"}, {"decision", "allow"}, {"reason", "ok"}},
         {{"id", "ev-2"}, {"at", "2026-12-02T10:01:00Z"}, {"unix_name", "mallory"}, {"ip", "192.0.2.66"},
          {"method", "publickey"}, {"decision", "deny"}, {"reason", "not_portal_user"}}});
    auto first = https_request(https, host.host_token, "POST", "/v1/iam/login_events", batch.dump());
    INFO(first.describe());
    REQUIRE(first.status == 200);
    CHECK(first.json["new"] == 2);
    auto again = https_request(https, host.host_token, "POST", "/v1/iam/login_events", batch.dump());
    CHECK(again.json["new"] == 0);  // resent after a lost answer: kept once

    auto history = d.get("/v1/account/logins", seed.owner.uid);
    REQUIRE(history.status == 200);
    REQUIRE(history.json.size() == 2);
    CHECK(history.json[0]["id"] == "ev-2");  // newest first
    CHECK(history.json[0]["host_id"] == host.host_id);
    CHECK(history.json[1]["user_id"] == member.id);
    auto user = d.get("/v1/account/users/" + member.id, seed.owner.uid);
    CHECK(user.json["last_login"]["at"] == "2026-12-02T10:00:00Z");
    CHECK(user.json["last_login"]["host"] == "web-7");

    auto bad = https_request(https, host.host_token, "POST", "/v1/iam/login_events",
                             R"([{"id":"ok-1","at":"2026-12-02T10:00:00Z","unix_name":"a","ip":"1","method":"m","decision":"allow","reason":"r"},
                                 {"id":"ok-2","at":"2026-12-02T10:00:00Z","unix_name":"a","ip":"1","method":"m","decision":"maybe","reason":"r"}])");
    CHECK(bad.status == 422);
    CHECK(bad.json["errors"].contains("events[1].decision"));
    CHECK(d.get("/v1/account/logins", seed.owner.uid).json.size() == 2);  // nothing of a refused batch
    CHECK(https_request(https, host.host_token, "POST", "/v1/iam/login_events", R"({"id":"x"})").status == 422);
    CHECK(https_request(https, host.host_token, "POST", "/v1/iam/login_events",
                        R"([{"id":"a b","at":"2026-12-02T10:00:00Z","unix_name":"a","ip":"1","method":"m","decision":"allow","reason":"r"}])")
              .json["errors"]
              .contains("events[0].id"));
}

TEST_CASE("iam feed: support members' access_until only for a host that asks (windows=1)", "[api][feed][https][support]") {
    Daemon d("feed-windows", feed_daemon_options());
    const auto seed = seed_account(d);
    const auto provider = seed_account(d, "Provider", "prov");
    const Member staff = add_member(d, provider.account_id, "staff@provider.example", "manager");
    REQUIRE(d.put("/v1/support/staff/" + staff.id, nlohmann::json::object(), 0).status == 200);
    const HttpsTarget https = https_listener(d);
    const HostCredentials host = register_test_host(https, new_enrolment_token(d, seed.account_id));
    const std::uint64_t since = https_request(https, host.host_token, "GET", "/v1/iam/state").json.at("revision");
    const auto in_a_day = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + std::chrono::hours(24));
    REQUIRE(d.put("/v1/support/access", {{"enabled", true}, {"expires_at", portal::store::format_rfc3339(in_a_day)}}, 0,
                  account_header(seed.account_id))
                .status == 200);
    auto support_entry = [&](const nlohmann::json& members) {
        for (const auto& m : members)
            if (m.at("user_id") == staff.id) return m;
        return nlohmann::json();
    };
    const auto plain = support_entry(https_request(https, host.host_token, "GET", "/v1/iam/state").json.at("members"));
    REQUIRE(plain.is_object());
    CHECK(plain.at("role") == "support");
    CHECK_FALSE(plain.contains("access_until"));
    const auto windowed =
        support_entry(https_request(https, host.host_token, "GET", "/v1/iam/state?windows=1").json.at("members"));
    REQUIRE(windowed.is_object());
    CHECK(windowed.at("access_until") == static_cast<std::int64_t>(in_a_day));
    const std::string changes = "/v1/iam/changes?since=" + std::to_string(since);
    CHECK_FALSE(support_entry(https_request(https, host.host_token, "GET", changes).json.at("upserts")).contains("access_until"));
    CHECK(support_entry(https_request(https, host.host_token, "GET", changes + "&windows=1").json.at("upserts"))
              .at("access_until") == static_cast<std::int64_t>(in_a_day));
    CHECK(https_request(https, host.host_token, "GET", "/v1/iam/state?windows=2").status == 400);
}
