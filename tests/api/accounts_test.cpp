// GET/PUT /v1/account, GET/POST /v1/accounts, account selection and Enforce 2FA.
#include <catch2/catch.hpp>
#include <regex>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

const std::regex kRfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");

}  // namespace

TEST_CASE("GET /v1/account returns the selected account", "[api][account]") {
    Daemon d("account-get");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");

    for (uid_t uid : {uid_t{0}, seed.owner.uid, mgr.uid}) {
        auto r = d.get("/v1/account", uid);
        INFO("uid " << uid << ": " << r.describe());
        REQUIRE(r.status == 200);
        CHECK(r.json.size() == 4);
        CHECK(r.json.at("id") == seed.account_id);
        CHECK(r.json.at("name") == "Acme");
        CHECK(r.json.at("enforce_2fa") == false);
        CHECK(std::regex_match(r.json.at("created_at").get<std::string>(), kRfc3339));
        CHECK(r.header("content-type").rfind("application/json", 0) == 0);
    }
}

TEST_CASE("PUT /v1/account is owner-only and renames", "[api][account]") {
    Daemon d("account-put");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");

    auto denied = d.put("/v1/account", {{"name", "Hijacked"}}, mgr.uid);
    INFO(denied.describe());
    CHECK(denied.status == 403);
    CHECK(denied.json.value("code", "") == "FORBIDDEN");

    auto ok = d.put("/v1/account", {{"name", "Acme GmbH"}}, seed.owner.uid);
    INFO(ok.describe());
    CHECK(ok.status == 200);
    CHECK(ok.json.value("name", "") == "Acme GmbH");
    CHECK(d.get("/v1/account", mgr.uid).json.value("name", "") == "Acme GmbH");

    auto by_root = d.put("/v1/account", {{"name", "Acme AG"}});
    CHECK(by_root.status == 200);
    CHECK(by_root.json.value("name", "") == "Acme AG");
}

TEST_CASE("GET/POST /v1/accounts: memberships, creating accounts, X-Account-ID", "[api][account]") {
    Daemon d("accounts");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");

    auto mine = d.get("/v1/accounts", mgr.uid);
    INFO(mine.describe());
    REQUIRE(mine.status == 200);
    REQUIRE(mine.json.is_array());
    REQUIRE(mine.json.size() == 1);
    CHECK(mine.json[0] == nlohmann::json{{"id", seed.account_id}, {"name", "Acme"}, {"role", "manager"}});

    // A portal user creates an account and becomes its owner.
    auto created = d.post("/v1/accounts", {{"name", "Side project"}}, mgr.uid);
    INFO(created.describe());
    REQUIRE(created.status == 201);
    const std::string side = created.json.at("id").get<std::string>();
    CHECK(created.json.value("role", "") == "owner");
    CHECK(created.json.value("name", "") == "Side project");
    CHECK(side != seed.account_id);

    auto both = d.get("/v1/accounts", mgr.uid);
    REQUIRE(both.json.size() == 2);
    bool saw_side = false;
    for (const auto& a : both.json)
        if (a.at("id") == side) {
            saw_side = true;
            CHECK(a.at("role") == "owner");
        }
    CHECK(saw_side);

    // X-Account-ID switches (which one is the default is tested below).
    auto switched = d.get("/v1/account", mgr.uid, account_header(side));
    CHECK(switched.status == 200);
    CHECK(switched.json.value("id", "") == side);
    auto users = d.get("/v1/account/users", mgr.uid, account_header(side));
    REQUIRE(users.status == 200);
    REQUIRE(users.json.size() == 1);
    CHECK(users.json[0].value("id", "") == mgr.id);
    CHECK(users.json[0].value("role", "") == "owner");

    // The original owner is not a member of the side account: 404, not 403.
    auto foreign = d.get("/v1/account", seed.owner.uid, account_header(side));
    INFO(foreign.describe());
    CHECK(foreign.status == 404);
    CHECK(foreign.json.value("code", "") == "NOT_FOUND");
    CHECK(d.get("/v1/account", seed.owner.uid, account_header("acc_doesnotexist")).status == 404);
    CHECK(d.get("/v1/account/users", seed.owner.uid, account_header(side)).status == 404);

    // root sees every account as owner.
    auto all = d.get("/v1/accounts");
    REQUIRE(all.status == 200);
    CHECK(all.json.size() == 2);
    for (const auto& a : all.json) CHECK(a.value("role", "") == "owner");
    CHECK(d.get("/v1/account", 0, account_header("acc_doesnotexist")).status == 404);

    // root names the first owner; an unknown user is 422.
    auto third = d.post("/v1/accounts", {{"name", "Third"}, {"owner_user_id", seed.owner.id}});
    INFO(third.describe());
    CHECK(third.status == 201);
    auto bad_owner = d.post("/v1/accounts", {{"name", "Fourth"}, {"owner_user_id", "usr_nope"}});
    CHECK(bad_owner.status == 422);
    CHECK(bad_owner.json["errors"].contains("owner_user_id"));
    // A portal user cannot create an account for someone else.
    auto for_other = d.post("/v1/accounts", {{"name", "Fifth"}, {"owner_user_id", seed.owner.id}}, mgr.uid);
    CHECK(for_other.status == 422);
    CHECK(d.get("/v1/accounts", seed.owner.uid).json.size() == 2);
}

TEST_CASE("the default account is the oldest, even when created in the same second", "[api][account]") {
    Daemon d("account-default");
    // Several accounts in quick succession: timestamps have whole seconds, so ties are likely.
    auto first = seed_account(d, "First", "first");
    std::vector<std::string> later;
    for (int i = 0; i < 4; ++i) {
        auto r = d.post("/v1/accounts", {{"name", "Later " + std::to_string(i)}, {"owner_user_id", first.owner.id}});
        REQUIRE(r.status == 201);
        later.push_back(r.json.at("id"));
    }
    auto root_default = d.get("/v1/account");
    INFO(root_default.describe());
    CHECK(root_default.json.value("id", "") == first.account_id);
    auto user_default = d.get("/v1/account", first.owner.uid);
    INFO(user_default.describe());
    CHECK(user_default.json.value("id", "") == first.account_id);
    // Lists come in the same order (oldest first).
    auto mine = d.get("/v1/accounts", first.owner.uid);
    REQUIRE(mine.json.size() == 5);
    CHECK(mine.json[0].value("id", "") == first.account_id);
    for (std::size_t i = 0; i < later.size(); ++i) CHECK(mine.json[i + 1].value("id", "") == later[i]);
}

TEST_CASE("Enforce 2FA: confirmed by account id, then members without 2FA may only enrol", "[api][account][tfa]") {
    Daemon d("enforce");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    auto owner_tfa = enrol_tfa(d, seed.owner.uid);

    // Without confirm, or with a wrong one: 422 naming `confirm`, and nothing changes.
    for (const nlohmann::json& body :
         {nlohmann::json{{"enforce_2fa", true}}, nlohmann::json{{"enforce_2fa", true}, {"confirm", "acc_wrong"}}}) {
        auto r = d.put("/v1/account", body, seed.owner.uid);
        INFO(r.describe());
        CHECK(r.status == 422);
        CHECK(r.json["errors"].contains("confirm"));
    }
    CHECK(d.get("/v1/account").json.value("enforce_2fa", true) == false);

    // Managers cannot switch it.
    auto mgr_try = d.put("/v1/account", {{"enforce_2fa", true}, {"confirm", seed.account_id}}, mgr.uid);
    CHECK(mgr_try.status == 403);

    auto on = d.put("/v1/account", {{"enforce_2fa", true}, {"confirm", seed.account_id}}, seed.owner.uid);
    INFO(on.describe());
    REQUIRE(on.status == 200);
    CHECK(on.json.value("enforce_2fa", false) == true);

    // The manager without 2FA: 403 on operations, with a message saying why.
    auto keys = d.get("/v1/ssh_keys", mgr.uid);
    INFO(keys.describe());
    CHECK(keys.status == 403);
    CHECK(keys.json.value("code", "") == "FORBIDDEN");
    CHECK(keys.json.value("message", "").find("two-factor") != std::string::npos);
    CHECK(d.get("/v1/account/users", mgr.uid).status == 403);
    CHECK(d.get("/v1/account", mgr.uid).status == 403);
    CHECK(d.post("/v1/ssh_keys", {{"name", "k"}, {"public_key", fresh_ed25519_line()}}, mgr.uid).status == 403);

    // ...but may read the profile and enrol.
    auto prof = d.get("/v1/profile", mgr.uid);
    CHECK(prof.status == 200);
    CHECK(prof.json.value("tfa_enabled", true) == false);
    enrol_tfa(d, mgr.uid);
    auto after = d.get("/v1/ssh_keys", mgr.uid);
    INFO(after.describe());
    CHECK(after.status == 200);
    CHECK(d.get("/v1/account", mgr.uid).json.value("enforce_2fa", false) == true);

    // The owner (enrolled) kept working throughout.
    CHECK(d.get("/v1/account/users", seed.owner.uid).status == 200);

    // Turning it off also needs confirm, and leaves users' own 2FA on.
    CHECK(d.put("/v1/account", {{"enforce_2fa", false}}, seed.owner.uid).status == 422);
    auto off = d.put("/v1/account", {{"enforce_2fa", false}, {"confirm", seed.account_id}}, seed.owner.uid);
    CHECK(off.status == 200);
    CHECK(off.json.value("enforce_2fa", true) == false);
    CHECK(d.get("/v1/profile", mgr.uid).json.value("tfa_enabled", false) == true);
    CHECK(d.get("/v1/account/users/" + seed.owner.id).json.value("tfa_enabled", false) == true);
    // An unchanged value needs no confirm (only a change does).
    CHECK(d.put("/v1/account", {{"enforce_2fa", false}, {"name", "Acme"}}, seed.owner.uid).status == 200);
    (void)owner_tfa;
}

TEST_CASE("Enforce 2FA by root locks out an owner without 2FA until they enrol", "[api][account][tfa]") {
    Daemon d("enforce-root");
    auto seed = seed_account(d);
    auto on = d.put("/v1/account", {{"enforce_2fa", true}, {"confirm", seed.account_id}});
    REQUIRE(on.status == 200);
    CHECK(d.get("/v1/account/users", seed.owner.uid).status == 403);
    CHECK(d.put("/v1/account", {{"name", "x"}}, seed.owner.uid).status == 403);
    // root is the machine's administrator: not subject to the member rule.
    CHECK(d.get("/v1/account/users").status == 200);
    enrol_tfa(d, seed.owner.uid);
    CHECK(d.get("/v1/account/users", seed.owner.uid).status == 200);
}

TEST_CASE("GET /v1/server: the account this server serves, its login state and what it could not publish",
          "[api][account][server]") {
    Daemon d("server-status");
    auto seed = seed_account(d);  // the oldest account: the one this server's logins follow
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    auto other = d.post("/v1/accounts", {{"name", "Other"}});
    REQUIRE(other.status == 201);
    const std::string other_id = other.json.at("id");

    for (uid_t uid : {uid_t{0}, seed.owner.uid, mgr.uid}) {
        auto r = d.get("/v1/server", uid, account_header(seed.account_id));
        INFO("uid " << uid << ": " << r.describe());
        REQUIRE(r.status == 200);
        CHECK(r.json.at("account_id") == seed.account_id);
        CHECK(r.json.at("revision").get<std::uint64_t>() > 0);
        CHECK(r.json.at("state_file").at("current") == true);
        CHECK(r.json.at("collisions").empty());
    }
    // Another account's members do not log in here: nothing to show for it.
    auto elsewhere = d.get("/v1/server", 0, account_header(other_id));
    INFO(elsewhere.describe());
    CHECK(elsewhere.status == 404);
}
