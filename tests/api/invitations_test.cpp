// Invitations: an existing user added to another account is invited, sees the invitation
// under /v1/profile/invitations, and only accepting it gives them a membership there.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

TEST_CASE("invitations: an existing user is invited, accepts, and only then acts in the account", "[api][invitations]") {
    Daemon d("invite-accept");
    auto a = seed_account(d, "Acme", "acme");
    auto b = seed_account(d, "Globex", "globex");
    auto jane = add_member(d, a.account_id, "jane@example.com", "manager");
    const auto in_b = account_header(b.account_id);

    auto invite = d.post("/v1/account/users", {{"email", "JANE@example.com"}, {"name", "Jane"}, {"role", "owner"}},
                         b.owner.uid);
    INFO(invite.describe());
    REQUIRE(invite.status == 201);
    CHECK(invite.json.at("id") == jane.id);
    CHECK(invite.json.at("status") == "invited");
    CHECK(invite.json.at("role") == "owner");
    CHECK(!invite.json.contains("tfa_enabled"));
    CHECK(!invite.json.contains("last_login"));
    CHECK(!invite.json.contains("uid"));
    // The same reduced view in the account's listing and lookup.
    auto listed = d.get("/v1/account/users/" + jane.id, b.owner.uid);
    CHECK(listed.json == invite.json);
    // A second invitation to the same account is a conflict.
    CHECK(d.post("/v1/account/users", {{"email", jane.email}, {"name", "J"}, {"role", "manager"}}, b.owner.uid).status == 409);

    // Before accepting: no rights in Globex, and Globex is not one of Jane's accounts.
    auto before = d.get("/v1/account", jane.uid, in_b);
    INFO(before.describe());
    CHECK(before.status == 403);
    CHECK(before.json.value("message", "").find("invit") != std::string::npos);
    CHECK(d.get("/v1/ssh_keys", jane.uid, in_b).status == 403);
    CHECK(d.get("/v1/accounts", jane.uid).json.size() == 1);
    CHECK(d.get("/v1/account", jane.uid).json.value("id", "") == a.account_id);

    auto pending = d.get("/v1/profile/invitations", jane.uid);
    INFO(pending.describe());
    REQUIRE(pending.status == 200);
    REQUIRE(pending.json.size() == 1);
    CHECK(pending.json[0].value("account_id", "") == b.account_id);
    CHECK(pending.json[0].value("account_name", "") == "Globex");
    CHECK(pending.json[0].value("role", "") == "owner");
    CHECK(!pending.json[0].value("invited_at", "").empty());

    // Only Jane answers it: not another user, not for an account she is not invited to.
    CHECK(d.post("/v1/profile/invitations/" + b.account_id + "/accept", nlohmann::json::object(), a.owner.uid).status == 404);
    CHECK(d.post("/v1/profile/invitations/" + a.account_id + "/accept", nlohmann::json::object(), jane.uid).status == 404);
    CHECK(d.post("/v1/profile/invitations/acc_nope/accept", nlohmann::json::object(), jane.uid).status == 404);
    CHECK(d.post("/v1/profile/invitations/" + b.account_id + "/accept", nlohmann::json::object()).status == 403);

    auto accepted = d.post("/v1/profile/invitations/" + b.account_id + "/accept", nlohmann::json::object(), jane.uid);
    INFO(accepted.describe());
    REQUIRE(accepted.status == 200);
    CHECK(accepted.json == nlohmann::json{{"id", b.account_id}, {"name", "Globex"}, {"role", "owner"}});
    CHECK(d.get("/v1/profile/invitations", jane.uid).json.empty());
    CHECK(d.get("/v1/accounts", jane.uid).json.size() == 2);
    CHECK(d.get("/v1/account", jane.uid, in_b).status == 200);
    // Now Globex sees the member's record.
    auto member = d.get("/v1/account/users/" + jane.id, b.owner.uid);
    CHECK(member.json.value("status", "") == "active");
    CHECK(member.json.at("uid") == jane.json.at("uid"));
    CHECK(d.post("/v1/profile/invitations/" + b.account_id + "/accept", nlohmann::json::object(), jane.uid).status == 404);
}

TEST_CASE("invitations: declining removes the membership, new emails are still created directly", "[api][invitations]") {
    Daemon d("invite-decline");
    auto a = seed_account(d, "Acme", "acme");
    auto b = seed_account(d, "Globex", "globex");

    auto invite = d.post("/v1/account/users", {{"email", a.owner.email}, {"name", "A"}, {"role", "manager"}}, b.owner.uid);
    REQUIRE(invite.status == 201);
    REQUIRE(invite.json.at("status") == "invited");
    auto declined = d.post("/v1/profile/invitations/" + b.account_id + "/decline", nlohmann::json::object(), a.owner.uid);
    INFO(declined.describe());
    CHECK(declined.status == 204);
    CHECK(d.get("/v1/account/users/" + a.owner.id, b.owner.uid).status == 404);
    CHECK(d.get("/v1/profile/invitations", a.owner.uid).json.empty());
    CHECK(d.post("/v1/profile/invitations/" + b.account_id + "/decline", nlohmann::json::object(), a.owner.uid).status == 404);
    // A body is refused like everywhere else.
    CHECK(d.post("/v1/profile/invitations/" + b.account_id + "/decline", {{"x", 1}}, a.owner.uid).status == 422);

    // An owner provisioning a new email creates the user as today, active by default.
    auto fresh = d.post("/v1/account/users", {{"email", "new@example.com"}, {"name", "New"}, {"role", "manager"}},
                        b.owner.uid);
    INFO(fresh.describe());
    REQUIRE(fresh.status == 201);
    CHECK(fresh.json.at("status") == "active");
    CHECK(fresh.json.contains("uid"));
    CHECK(d.get("/v1/account", fresh.json.at("uid").get<uid_t>()).status == 200);
}

TEST_CASE("invitations: a user who is only invited may answer, and nothing else", "[api][invitations]") {
    Daemon d("invite-only");
    auto a = seed_account(d, "Acme", "acme");
    auto inv = add_member(d, a.account_id, "inv@example.com", "manager", "invited");
    CHECK(d.get("/v1/profile", inv.uid).status == 403);
    CHECK(d.get("/v1/account", inv.uid).status == 403);
    CHECK(d.post("/v1/profile/tfa/enable", nlohmann::json::object(), inv.uid).status == 403);
    auto pending = d.get("/v1/profile/invitations", inv.uid);
    REQUIRE(pending.status == 200);
    REQUIRE(pending.json.size() == 1);
    REQUIRE(d.post("/v1/profile/invitations/" + a.account_id + "/accept", nlohmann::json::object(), inv.uid).status == 200);
    CHECK(d.get("/v1/profile", inv.uid).status == 200);
    CHECK(d.get("/v1/account", inv.uid).status == 200);
    // Root may still activate an invited member directly (provisioning).
    auto inv2 = add_member(d, a.account_id, "inv2@example.com", "manager", "invited");
    CHECK(d.put("/v1/account/users/" + inv2.id, {{"status", "active"}}, a.owner.uid).status == 403);
    CHECK(d.put("/v1/account/users/" + inv2.id, {{"status", "active"}}, 0, account_header(a.account_id)).status == 200);
}

TEST_CASE("invitations: an invited member is not published on the account's servers until accepted", "[api][invitations]") {
    Daemon d("invite-publish");
    auto a = seed_account(d, "Acme", "acme");  // the oldest account: the one this server serves
    auto b = seed_account(d, "Globex", "globex");
    const auto b_owner = b.owner.json.at("unix_name").get<std::string>();
    auto published_soon = [&d](const std::string& name, bool present) {
        for (int i = 0; i < 100 && provider_has_user(d, name) != present; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return provider_has_user(d, name) == present;
    };
    REQUIRE(published_soon(a.owner.json.at("unix_name").get<std::string>(), true));  // publication works at all
    CHECK_FALSE(provider_has_user(d, b_owner));

    auto invite = d.post("/v1/account/users", {{"email", b.owner.email}, {"name", "B"}, {"role", "manager"}}, a.owner.uid);
    REQUIRE(invite.json.value("status", "") == "invited");
    // A later write makes sure the refresh after the invitation has run.
    auto later = add_member(d, a.account_id, "later@example.com", "manager");
    REQUIRE(published_soon(later.json.at("unix_name").get<std::string>(), true));
    CHECK_FALSE(provider_has_user(d, b_owner));

    REQUIRE(d.post("/v1/profile/invitations/" + a.account_id + "/accept", nlohmann::json::object(), b.owner.uid).status == 200);
    CHECK(published_soon(b_owner, true));
}
