// The one guard (keyd/iam/guard.cpp), seen from the socket: issue 8 §1's chain, the scope
// of user-global data, co-owners, and members who are deactivated or only invited.
#include <catch2/catch.hpp>
#include <set>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

std::set<std::string> keys_of(const nlohmann::json& j) {
    std::set<std::string> out;
    for (auto it = j.begin(); it != j.end(); ++it) out.insert(it.key());
    return out;
}

bool says(const HttpResult& r, const std::string& words) {
    return r.json.is_object() && r.json.value("message", "").find(words) != std::string::npos;
}

}  // namespace

TEST_CASE("guard: issue 8's chain (manager creates B, adds A's owner, resets their 2FA) stops", "[api][guard]") {
    Daemon d("guard-chain");
    // 1. root creates account A with an owner (2FA enrolled) and a manager.
    auto a = seed_account(d, "A", "a");
    enrol_tfa(d, a.owner.uid);
    auto manager = add_member(d, a.account_id, "manager-a@example.com", "manager");
    const auto owner_before = d.get("/v1/account/users/" + a.owner.id, 0, account_header(a.account_id));
    REQUIRE(owner_before.json.value("tfa_enabled", false) == true);

    // 2. the manager creates account B (an active member without Enforce 2FA may).
    auto b = d.post("/v1/accounts", {{"name", "B"}}, manager.uid);
    INFO(b.describe());
    REQUIRE(b.status == 201);
    const auto in_b = account_header(b.json.at("id").get<std::string>());

    // 3. the manager adds owner-a to B: an invitation only, showing nothing of owner-a's record.
    auto add = d.post("/v1/account/users", {{"email", a.owner.email}, {"name", "X"}, {"role", "manager"}}, manager.uid, in_b);
    INFO(add.describe());
    REQUIRE(add.status == 201);
    CHECK(add.json.at("status") == "invited");
    CHECK(keys_of(add.json) == std::set<std::string>{"id", "email", "role", "status", "created_at", "updated_at"});
    // The invitation cannot be turned into a membership by the inviter.
    auto force = d.put("/v1/account/users/" + a.owner.id, {{"status", "active"}}, manager.uid, in_b);
    INFO(force.describe());
    CHECK(force.status == 403);

    // 4. the manager resets owner-a's (global) 2FA and renames them: both refused, saying why.
    auto reset = d.post("/v1/account/users/" + a.owner.id + "/tfa/reset", nlohmann::json::object(), manager.uid, in_b);
    INFO(reset.describe());
    CHECK(reset.status == 403);
    CHECK(says(reset, "global"));
    auto rename = d.put("/v1/account/users/" + a.owner.id, {{"name", "Mallory"}}, manager.uid, in_b);
    INFO(rename.describe());
    CHECK(rename.status == 403);

    // owner-a is untouched in A.
    auto owner_after = d.get("/v1/account/users/" + a.owner.id, 0, account_header(a.account_id));
    CHECK(owner_after.json.value("tfa_enabled", false) == true);
    CHECK(owner_after.json.value("name", "") == owner_before.json.value("name", "?"));
    auto profile = d.get("/v1/profile", a.owner.uid);
    CHECK(profile.json.value("tfa_enabled", false) == true);
    CHECK(profile.json.at("accounts").size() == 1);  // B is an invitation, not an account of theirs
}

TEST_CASE("guard: user-global data changes only by the user, root, or an owner of all their accounts", "[api][guard]") {
    Daemon d("guard-global");
    auto a = seed_account(d, "A", "a");
    auto b = seed_account(d, "B", "b");
    // X is a manager in both (root provisions directly).
    auto x = add_member(d, a.account_id, "x@example.com", "manager");
    REQUIRE(d.post("/v1/account/users", {{"email", x.email}, {"name", "X"}, {"role", "manager"}}, 0,
                   account_header(b.account_id))
                .json.value("status", "") == "active");
    enrol_tfa(d, x.uid);

    // A's owner does not own B: X's name and 2FA are not theirs to change.
    auto reset = d.post("/v1/account/users/" + x.id + "/tfa/reset", nlohmann::json::object(), a.owner.uid);
    INFO(reset.describe());
    CHECK(reset.status == 403);
    CHECK(reset.json.value("code", "") == "FORBIDDEN");
    CHECK(d.put("/v1/account/users/" + x.id, {{"name", "Renamed"}}, a.owner.uid).status == 403);
    CHECK(d.get("/v1/profile", x.uid).json.value("tfa_enabled", false) == true);
    // Account-scoped changes stay the owner's: role and status in A.
    CHECK(d.put("/v1/account/users/" + x.id, {{"status", "deactivated"}}, a.owner.uid).status == 200);
    CHECK(d.put("/v1/account/users/" + x.id, {{"status", "active"}}, a.owner.uid).status == 200);

    // Once A's owner is also an active owner of B, they may.
    auto joined = d.post("/v1/account/users", {{"email", a.owner.email}, {"name", "O"}, {"role", "owner"}}, 0,
                         account_header(b.account_id));
    REQUIRE(joined.status == 201);
    auto renamed = d.put("/v1/account/users/" + x.id, {{"name", "Renamed"}}, a.owner.uid);
    INFO(renamed.describe());
    CHECK(renamed.status == 200);
    CHECK(renamed.json.value("name", "") == "Renamed");
    auto reset2 = d.post("/v1/account/users/" + x.id + "/tfa/reset", nlohmann::json::object(), a.owner.uid);
    INFO(reset2.describe());
    CHECK(reset2.status == 204);
    CHECK(d.get("/v1/profile", x.uid).json.value("tfa_enabled", true) == false);

    // The user themself and root always may.
    CHECK(d.put("/v1/profile", {{"name", "Mine"}}, x.uid).status == 200);
    CHECK(d.put("/v1/account/users/" + x.id, {{"name", "By root"}}, 0, account_header(a.account_id)).status == 200);
    // A pending invitation gives the inviting account no say over X's record.
    auto c = seed_account(d, "C", "c");
    REQUIRE(d.post("/v1/account/users", {{"email", x.email}, {"name", "X"}, {"role", "manager"}}, c.owner.uid)
                .json.value("status", "") == "invited");
    CHECK(d.put("/v1/account/users/" + x.id, {{"name", "From C"}}, c.owner.uid).status == 403);
    CHECK(d.put("/v1/account/users/" + x.id, {{"name", "Still A"}}, a.owner.uid).status == 200);
}

TEST_CASE("guard: another owner's name, keys and 2FA are root's to change", "[api][guard][owners]") {
    Daemon d("guard-coowners");
    auto a = seed_account(d, "A", "a");
    auto co = add_member(d, a.account_id, "co@example.com", "owner");
    enrol_tfa(d, co.uid);
    const std::string co_path = "/v1/account/users/" + co.id;
    auto co_key = d.post("/v1/ssh_keys", {{"name", "co"}, {"public_key", fresh_ed25519_line()}}, co.uid);
    REQUIRE(co_key.status == 201);
    const std::string fp = co_key.json.at("fingerprint");

    CHECK(d.put(co_path, {{"name", "Renamed"}}, a.owner.uid).status == 403);
    auto reset = d.post(co_path + "/tfa/reset", nlohmann::json::object(), a.owner.uid);
    INFO(reset.describe());
    CHECK(reset.status == 403);
    CHECK(says(reset, "owner"));
    auto add = d.post("/v1/ssh_keys", {{"name", "mine-now"}, {"public_key", fresh_ed25519_line()}, {"user_id", co.id}},
                      a.owner.uid);
    INFO(add.describe());
    CHECK(add.status == 403);
    CHECK(d.put("/v1/ssh_keys/" + fp, {{"name", "x"}}, a.owner.uid).status == 403);
    CHECK(d.del("/v1/ssh_keys/" + fp, a.owner.uid).status == 403);
    // Reading is fine: owners see every key.
    CHECK(d.get("/v1/ssh_keys/" + fp, a.owner.uid).status == 200);
    // Managers' things stay the owners' to manage.
    auto mgr = add_member(d, a.account_id, "mgr@example.com", "manager");
    CHECK(d.post("/v1/ssh_keys", {{"name", "for-mgr"}, {"public_key", fresh_ed25519_line()}, {"user_id", mgr.id}},
                 a.owner.uid)
              .status == 201);
    CHECK(d.put("/v1/account/users/" + mgr.id, {{"name", "Mgr"}}, a.owner.uid).status == 200);
    // The co-owner themself and root may.
    CHECK(d.put("/v1/ssh_keys/" + fp, {{"name", "co-renamed"}}, co.uid).status == 200);
    CHECK(d.put(co_path, {{"name", "By root"}}, 0, account_header(a.account_id)).status == 200);
    CHECK(d.post(co_path + "/tfa/reset", nlohmann::json::object(), 0, account_header(a.account_id)).status == 204);
    CHECK(d.del("/v1/ssh_keys/" + fp, 0, account_header(a.account_id)).status == 204);
    CHECK(d.get("/v1/profile", co.uid).json.value("tfa_enabled", true) == false);
}

TEST_CASE("guard: a principal with no active membership gets 403 on accounts and profile", "[api][guard]") {
    Daemon d("guard-inactive");
    auto a = seed_account(d, "A", "a");
    auto deact = add_member(d, a.account_id, "deact@example.com", "manager");
    REQUIRE(d.put("/v1/account/users/" + deact.id, {{"status", "deactivated"}}, a.owner.uid).status == 200);
    auto invited = add_member(d, a.account_id, "invited@example.com", "manager", "invited");

    for (const auto& m : {deact, invited}) {
        INFO(m.email);
        auto list = d.get("/v1/accounts", m.uid);
        INFO(list.describe());
        CHECK(list.status == 403);
        CHECK(d.get("/v1/profile", m.uid).status == 403);
        CHECK(d.put("/v1/profile", {{"name", "x"}}, m.uid).status == 403);
        CHECK(d.post("/v1/accounts", {{"name", "Mine"}}, m.uid).status == 403);
        CHECK(d.get("/v1/account", m.uid).status == 403);
    }
    CHECK(d.get("/v1/accounts").json.size() == 1);

    // Active somewhere is enough: deactivated in A, active in B lists only B.
    auto b = seed_account(d, "B", "b");
    REQUIRE(d.post("/v1/account/users", {{"email", deact.email}, {"name", "D"}, {"role", "manager"}}, 0,
                   account_header(b.account_id))
                .status == 201);
    auto list = d.get("/v1/accounts", deact.uid);
    INFO(list.describe());
    REQUIRE(list.status == 200);
    REQUIRE(list.json.size() == 1);
    CHECK(list.json[0].value("id", "") == b.account_id);
    CHECK(d.get("/v1/account", deact.uid).json.value("id", "") == b.account_id);  // the default is the active one
    CHECK(d.get("/v1/account", deact.uid, account_header(a.account_id)).status == 403);
}

TEST_CASE("guard: creating an account needs an active membership that satisfies Enforce 2FA", "[api][guard][tfa]") {
    Daemon d("guard-create");
    auto a = seed_account(d, "A", "a");
    auto mgr = add_member(d, a.account_id, "mgr@example.com", "manager");
    REQUIRE(d.put("/v1/account", {{"enforce_2fa", true}, {"confirm", a.account_id}}).status == 200);

    auto blocked = d.post("/v1/accounts", {{"name", "Escape"}}, mgr.uid);
    INFO(blocked.describe());
    CHECK(blocked.status == 403);
    CHECK(says(blocked, "two-factor"));
    CHECK(d.get("/v1/accounts").json.size() == 1);

    enrol_tfa(d, mgr.uid);
    CHECK(d.post("/v1/accounts", {{"name", "Allowed"}}, mgr.uid).status == 201);
    CHECK(d.post("/v1/accounts", {{"name", "No one"}}, kUnknownUid).status == 403);
    CHECK(d.post("/v1/accounts", {{"name", "root's"}}).status == 201);
}
