// An agent's local API answers reads from its synced copy (issue 11): the account, its
// members, their SSH keys and the caller's profile, through the same handlers and guard as the
// authority, the same answers (but last_login, which the portal keeps), and with the portal
// down. Two real daemons over real TLS; the real portalctl run as the member.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/api/support/agents.h"

using namespace portal::test;

namespace {

// The authority's answer and the agent's, side by side, for the same uid.
nlohmann::json without_last_login(nlohmann::json items) {
    for (auto& i : items)
        if (i.is_object()) i.erase("last_login");
    return items;
}

void same_list(const Portal& p, const Daemon& agent, const std::string& path, uid_t uid) {
    const auto at_portal = list_all(*p.authority, path, uid, account_header(p.seed.account_id));
    const auto here = list_all(agent, path, uid);
    INFO(path << " as uid " << uid << ": " << here.problem);
    REQUIRE(here.consistent);
    CHECK(here.total == at_portal.total);
    CHECK(without_last_login(here.items) == without_last_login(at_portal.items));
}

std::string ctl_reads(uid_t uid, const Daemon& agent, const std::string& args, int* rc) {
    const std::string id = std::to_string(uid);
    return run_command("env -u PORTAL_TOKEN -u PORTAL_URL HOME=/nonexistent setpriv --reuid " + id + " --regid " + id +
                           " --clear-groups " + PORTALCTL_BIN + " --socket " + agent.socket().string() + " " + args +
                           " 2>&1",
                       rc);
}

}  // namespace

TEST_CASE("agent API: reads are answered from the synced copy, as the portal answers them, with the portal down",
          "[api][agent][reads]") {
    Portal p = start_portal("reads-portal", free_loopback_port());
    const uid_t owner = p.seed.owner.uid;
    const auto acct = account_header(p.seed.account_id);
    const Member mgr = add_member(*p.authority, p.seed.account_id, "reads-mgr@example.com", "manager");
    const Member guest = add_member(*p.authority, p.seed.account_id, "reads-inv@example.com", "manager", "invited");
    const auto k1 = ssh_keygen(p.authority->dir(), "reads-owner");
    const auto k2 = ssh_keygen(p.authority->dir(), "reads-mgr");
    REQUIRE(p.authority->post("/v1/ssh_keys", {{"name", "laptop"}, {"public_key", k1.public_line}, {"labels", {{"env", "prod"}}}},
                              owner).status == 201);
    REQUIRE(p.authority->post("/v1/ssh_keys", {{"name", "desk"}, {"public_key", k2.public_line}}, mgr.uid).status == 201);
    auto agent = start_agent("reads-agent", p);
    REQUIRE(eventually([&] { return agent_server(*agent)["sync"]["revision"] == authority_revision(p); }));

    // The same answers as the portal's, for each caller's role (a manager sees only their own
    // keys; an invitation shows what an invitation needs).
    for (uid_t uid : {owner, mgr.uid}) {
        same_list(p, *agent, "/v1/account/users", uid);
        same_list(p, *agent, "/v1/ssh_keys", uid);
        same_list(p, *agent, "/v1/account/users?role=manager", uid);
        same_list(p, *agent, "/v1/account/users?search_pattern=READS-", uid);
        same_list(p, *agent, "/v1/ssh_keys?label=env:prod", uid);
        for (const std::string& path : std::vector<std::string>{"/v1/account", "/v1/accounts", "/v1/profile", "/v1/account/users/" + guest.id}) {
            const auto a = p.authority->get(path, uid, acct);
            const auto b = agent->get(path, uid);
            INFO(path << " as uid " << uid << ": " << b.describe());
            CHECK(b.status == a.status);
            nlohmann::json ja = a.json, jb = b.json;
            for (auto* j : {&ja, &jb}) {
                if (!j->is_object()) continue;
                j->erase("last_login");
                if (path == "/v1/account") j->erase("created_at");  // an account's is not synced
            }
            CHECK(jb == ja);
        }
    }
    const auto owner_keys = list_all(*p.authority, "/v1/ssh_keys", owner).items;
    REQUIRE(owner_keys.size() == 2);
    for (const auto& k : owner_keys) {
        const std::string path = "/v1/ssh_keys/" + k["fingerprint"].get<std::string>();
        CHECK(agent->get(path, owner).json == p.authority->get(path, owner, acct).json);
        CHECK(agent->get(path, mgr.uid).status == p.authority->get(path, mgr.uid, acct).status);
    }
    CHECK(agent->get("/v1/account", owner, {{"X-Account-ID", "acc_other"}}).status == 404);
    CHECK(agent->get("/v1/account/users", kUnknownUid).status == 403);

    // Changes to what reads show follow like login data: a name, a key's labels, the account's name.
    REQUIRE(p.authority->put("/v1/account/users/" + mgr.id, {{"name", "Renamed Manager"}}, 0, acct).status == 200);
    const std::string mgr_fp = list_all(*p.authority, "/v1/ssh_keys", mgr.uid).items.at(0)["fingerprint"];
    REQUIRE(p.authority->put("/v1/ssh_keys/" + mgr_fp, {{"labels", {{"team", "ops"}}}}, mgr.uid).status == 200);
    REQUIRE(p.authority->put("/v1/account", {{"name", "Acme Renamed"}}, owner, acct).status == 200);
    REQUIRE(eventually([&] { return agent->get("/v1/account", owner).json.value("name", "") == "Acme Renamed"; }));
    CHECK(agent->get("/v1/account/users/" + mgr.id, owner).json["name"] == "Renamed Manager");
    CHECK(agent->get("/v1/ssh_keys/" + mgr_fp, mgr.uid).json["labels"] == nlohmann::json{{"team", "ops"}});
    same_list(p, *agent, "/v1/account/users", owner);

    // The portal down: portalctl reads still work here; changes say the portal is needed.
    p.authority->stop();
    int rc = -1;
    std::string out = ctl_reads(owner, *agent, "users list", &rc);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("reads-mgr@example.com") != std::string::npos);
    CHECK(out.find("Renamed Manager") != std::string::npos);
    out = ctl_reads(mgr.uid, *agent, "keys list", &rc);
    CHECK(rc == 0);
    CHECK(out.find("desk") != std::string::npos);
    CHECK(out.find("laptop") == std::string::npos);
    out = ctl_reads(owner, *agent, "account show", &rc);
    CHECK(rc == 0);
    CHECK(out.find("Acme Renamed") != std::string::npos);
    // A restart with the portal still down: the same reads, from synced.db.
    agent->stop();
    agent->start();
    CHECK(agent->get("/v1/account/users/" + mgr.id, owner).json["email"] == "reads-mgr@example.com");
    const auto keys_after_restart = agent->get("/v1/ssh_keys", owner);
    CHECK(keys_after_restart.status == 200);
    CHECK(keys_after_restart.json.is_array());
    CHECK(keys_after_restart.json.size() == 2);
    CHECK(agent->post("/v1/ssh_keys", {{"name", "x"}, {"public_key", k2.public_line}}, owner).status == 401);
}

TEST_CASE("agent API: a uid this server does not publish as a member is not that member here", "[api][agent][reads]") {
    Portal p = start_portal("reads-uid-portal", free_loopback_port());
    const Member mgr = add_member(*p.authority, p.seed.account_id, "reads-uid@example.com", "manager");
    REQUIRE(mgr.uid > p.seed.owner.uid);
    // The owner's uid is outside this server's range: a local user may hold it here.
    auto agent = start_agent("reads-uid-agent", p, "[users]\nuid_min = " + std::to_string(mgr.uid) + "\nuid_max = " +
                                                       std::to_string(mgr.uid + 1000) + "\n");
    REQUIRE(eventually([&] { return agent_server(*agent)["sync"]["revision"] == authority_revision(p); }));
    REQUIRE(eventually([&] { return agent_server(*agent)["collisions"].size() == 1; }));
    CHECK(agent->get("/v1/account/users", p.seed.owner.uid).status == 403);
    CHECK(agent->post("/v1/ssh_keys", {{"name", "x"}}, p.seed.owner.uid, {{"Authorization", "Bearer pk_ses_x"}}).status == 403);
    CHECK(agent->get("/v1/account/users", mgr.uid).status == 200);
}
