// The IP allowlist (issue 10): owner-only entries and switch; while active, portal sessions
// are made and used only from listed networks (clients bound to 127.0.0.1 and 127.0.0.2),
// switching it on ends sessions from elsewhere, and nobody over HTTPS removes the last entry
// that lists their own address. API tokens and the local socket are not subject to it.
#include <catch2/catch.hpp>
#include <string>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

constexpr const char* kAllowlistPassword = "allowlist passphrase";

struct AllowlistWorld {
    Seed seed;
    HttpsTarget from_1;  // a client bound to 127.0.0.1
    HttpsTarget from_2;  // ... and to 127.0.0.2
};

DaemonOptions allowlist_daemon_options() {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\n";
    return o;
}

AllowlistWorld allowlist_world(const Daemon& d) {
    AllowlistWorld w;
    w.seed = seed_account(d);
    REQUIRE(d.put("/v1/profile/password", {{"password", kAllowlistPassword}}, w.seed.owner.uid).status == 204);
    w.from_1 = https_listener(d);
    w.from_1.source_ip = "127.0.0.1";
    w.from_2 = w.from_1;
    w.from_2.source_ip = "127.0.0.2";
    return w;
}

HttpResult open_session(const HttpsTarget& t, const std::string& email) {
    return https_request(t, "", "POST", "/v1/auth/sessions",
                         nlohmann::json{{"email", email}, {"password", kAllowlistPassword}}.dump());
}

std::string session_token(const HttpsTarget& t, const std::string& email) {
    auto r = open_session(t, email);
    REQUIRE(r.status == 201);
    return r.json.at("token").get<std::string>();
}

std::string add_entry(const Daemon& d, const std::string& account_id, const std::string& cidr) {
    auto r = d.post("/v1/account/ip_allowlist/entries", {{"cidr", cidr}, {"comment", "test"}}, 0, account_header(account_id));
    REQUIRE(r.status == 201);
    return r.json.at("id").get<std::string>();
}

bool refused_by_allowlist(const HttpResult& r) {
    return r.status == 403 && r.json.value("message", "").find("IP allowlist") != std::string::npos;
}

}  // namespace

TEST_CASE("ip allowlist: entries are validated, canonical and unique", "[api][allowlist]") {
    Daemon d("allowlist-entries");
    const auto seed = seed_account(d);
    const auto hdr = account_header(seed.account_id);

    auto empty = d.get("/v1/account/ip_allowlist", 0, hdr);
    REQUIRE(empty.status == 200);
    CHECK(empty.json == nlohmann::json{{"active", false}, {"entries", nlohmann::json::array()}});

    auto v6 = d.post("/v1/account/ip_allowlist/entries", {{"cidr", "2001:DB8:0::/32"}, {"comment", "office v6"}}, 0, hdr);
    REQUIRE(v6.status == 201);
    CHECK(v6.json["cidr"] == "2001:db8::/32");
    CHECK(v6.json["comment"] == "office v6");
    CHECK(d.post("/v1/account/ip_allowlist/entries", {{"cidr", "192.0.2.7"}}, 0, hdr).json["cidr"] == "192.0.2.7/32");

    for (const char* bad : {"10.0.0.1/8", "nonsense", "192.0.2.0/33", "192.0.2.0/", "192.0.2.0/08", "::ffff:192.0.2.1",
                            "2001:db8::/129", " 192.0.2.0/24", "192.0.2.0/24 "}) {
        INFO(bad);
        auto r = d.post("/v1/account/ip_allowlist/entries", {{"cidr", bad}}, 0, hdr);
        CHECK(r.status == 422);
        CHECK(r.json["errors"].contains("cidr"));
    }
    CHECK(d.post("/v1/account/ip_allowlist/entries", {{"cidr", "2001:db8::/32"}}, 0, hdr).status == 409);
    CHECK(d.post("/v1/account/ip_allowlist/entries", {{"comment", "no cidr"}}, 0, hdr).status == 422);
    CHECK(d.post("/v1/account/ip_allowlist/entries", {{"cidr", "198.51.100.0/24"}, {"note", "x"}}, 0, hdr).status == 422);
    CHECK(d.put("/v1/account/ip_allowlist", {{"active", "yes"}}, 0, hdr).status == 422);

    const std::string id = v6.json["id"];
    auto renamed = d.put("/v1/account/ip_allowlist/entries/" + id, {{"comment", "office"}}, 0, hdr);
    CHECK(renamed.status == 200);
    CHECK(renamed.json["cidr"] == "2001:db8::/32");
    CHECK(d.put("/v1/account/ip_allowlist/entries/ipa_nope", {{"comment", "x"}}, 0, hdr).status == 404);
    CHECK(d.get("/v1/account/ip_allowlist", 0, hdr).json["entries"].size() == 2);  // nothing else changed

    // Owner only, in their own account.
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    CHECK(d.get("/v1/account/ip_allowlist", mgr.uid, hdr).status == 403);
    CHECK(d.put("/v1/account/ip_allowlist", {{"active", true}}, mgr.uid, hdr).status == 403);
    CHECK(d.del("/v1/account/ip_allowlist/entries/" + id, seed.owner.uid, hdr).status == 204);
}

TEST_CASE("ip allowlist: while active, sessions only from listed networks", "[api][allowlist][sessions][https]") {
    Daemon d("allowlist-sessions", allowlist_daemon_options());
    const auto w = allowlist_world(d);
    const std::string email = w.seed.owner.email;
    const std::string s1 = session_token(w.from_1, email);
    const std::string s2 = session_token(w.from_2, email);
    const auto api = create_api_token(d, w.seed.owner.uid, "ci", "full");

    // Switching it on over HTTPS needs the caller's own address listed first.
    auto locked_out = https_request(w.from_1, s1, "PUT", "/v1/account/ip_allowlist", R"({"active":true})");
    CHECK(locked_out.status == 422);
    CHECK(locked_out.json["errors"].contains("active"));
    const std::string one = add_entry(d, w.seed.account_id, "127.0.0.1/32");
    auto on = https_request(w.from_1, s1, "PUT", "/v1/account/ip_allowlist", R"({"active":true})");
    REQUIRE(on.status == 200);
    CHECK(on.json["active"] == true);

    // The session made from 127.0.0.2 ended; 127.0.0.1's goes on.
    auto ended = https_request(w.from_2, s2, "GET", "/v1/profile");
    CHECK(ended.status == 401);
    CHECK(https_request(w.from_1, s2, "GET", "/v1/profile").status == 401);
    CHECK(https_request(w.from_1, s1, "GET", "/v1/account").status == 200);
    // No new session from 127.0.0.2, and 127.0.0.1's session does not work from there.
    auto refused = open_session(w.from_2, email);
    CHECK(refused.status == 403);
    CHECK(refused.json["message"].get<std::string>().find("127.0.0.2") != std::string::npos);
    CHECK(refused_by_allowlist(https_request(w.from_2, s1, "GET", "/v1/account")));
    CHECK(refused_by_allowlist(https_request(w.from_2, s1, "GET", "/v1/profile")));
    CHECK(https_request(w.from_2, s1, "DELETE", "/v1/auth/sessions/current").status == 204);  // ending it always works
    // API tokens and the socket are not subject to it.
    CHECK(https_request(w.from_2, api.secret, "GET", "/v1/account").status == 200);
    CHECK(d.get("/v1/account", w.seed.owner.uid).status == 200);

    SECTION("the last entry listing the caller's address stays while active") {
        const std::string s = session_token(w.from_1, email);
        const std::string path = "/v1/account/ip_allowlist/entries/" + one;
        auto keep = https_request(w.from_1, s, "DELETE", path);
        CHECK(keep.status == 422);
        CHECK(keep.json["errors"].contains("id"));
        auto narrow = https_request(w.from_1, s, "PUT", path, R"({"cidr":"10.0.0.0/8"})");
        CHECK(narrow.status == 422);
        CHECK(narrow.json["errors"].contains("cidr"));
        // With another entry that lists it, the first may go.
        add_entry(d, w.seed.account_id, "127.0.0.0/8");
        CHECK(https_request(w.from_1, s, "DELETE", path).status == 204);
        // Narrowing the list ends sessions it no longer admits (none here: 127/8 lists both).
        CHECK(open_session(w.from_2, email).status == 201);
    }
    SECTION("switched off, sessions come from anywhere again") {
        CHECK(d.put("/v1/account/ip_allowlist", {{"active", false}}, 0, account_header(w.seed.account_id)).status == 200);
        const std::string again = session_token(w.from_2, email);
        CHECK(https_request(w.from_2, again, "GET", "/v1/account").status == 200);
        // On the socket root removes any entry, active or not.
        CHECK(d.put("/v1/account/ip_allowlist", {{"active", true}}, 0, account_header(w.seed.account_id)).status == 200);
        CHECK(d.del("/v1/account/ip_allowlist/entries/" + one, 0, account_header(w.seed.account_id)).status == 204);
        CHECK(https_request(w.from_2, again, "GET", "/v1/account").status == 401);  // ended with the last entry
    }
}

TEST_CASE("ip allowlist: a session reaches only the accounts that list its address", "[api][allowlist][sessions][https]") {
    Daemon d("allowlist-accounts", allowlist_daemon_options());
    const auto w = allowlist_world(d);
    // The owner of A also owns B, which has no allowlist.
    auto b = d.post("/v1/accounts", {{"name", "B"}}, w.seed.owner.uid);
    REQUIRE(b.status == 201);
    const std::string b_id = b.json.at("id");
    add_entry(d, w.seed.account_id, "127.0.0.1/32");
    REQUIRE(d.put("/v1/account/ip_allowlist", {{"active", true}}, 0, account_header(w.seed.account_id)).status == 200);

    const std::string s = session_token(w.from_2, w.seed.owner.email);  // B admits it
    auto dflt = https_request(w.from_2, s, "GET", "/v1/account");
    REQUIRE(dflt.status == 200);
    CHECK(dflt.json["id"] == b_id);  // the default skips the account that refuses it
    CHECK(refused_by_allowlist(https_request(w.from_2, s, "GET", "/v1/account", std::nullopt, account_header(w.seed.account_id))));
    CHECK(https_request(w.from_1, s, "GET", "/v1/account", std::nullopt, account_header(w.seed.account_id)).status == 200);
    CHECK(https_request(w.from_2, s, "GET", "/v1/profile").status == 200);
}
