// Agent mode (issue 11): a second real daemon follows a real authority over real TLS (pinned
// key, host token): the state, then long-polled changes, into its login path; the last good
// state kept across a restart while the portal is down; the host token revoked.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "keyd/store/sqlite.h"
#include "tests/api/support/agents.h"

using namespace portal::test;


TEST_CASE("agent: follows its portal's changes, and starts from the last good state while it is down",
          "[api][agent][https]") {
    const int port = free_loopback_port();
    Portal p = start_portal("agent-portal", port);
    const std::string owner_name = p.seed.owner.json["unix_name"];
    auto agent = start_agent("agent-1", p);

    // The state: the owner logs in on the agent; the agent is at the authority's revision.
    REQUIRE(eventually([&] { return allowed(*agent, owner_name); }));
    CHECK(agent_server(*agent)["sync"]["revision"] == authority_revision(p));
    CHECK(agent_server(*agent)["mode"] == "agent");
    CHECK(provider_has_user(*agent, owner_name));
    CHECK(agent->get("/v1/accounts").json.at(0).at("id") == p.seed.account_id);  // answered from the synced copy
    int rc = -1;
    const std::string status = run_command(std::string(PORTALCTL_BIN) + " --socket " + agent->socket().string() + " status", &rc);
    CHECK(rc == 0);
    CHECK(status.find("agent") != std::string::npos);
    CHECK(status.find(p.https.address) != std::string::npos);
    CHECK(status.find(p.https.pin) != std::string::npos);
    INFO(status);
    const auto offline = status.find("Offline since");
    REQUIRE(offline != std::string::npos);
    CHECK(status.substr(offline, status.find('\n', offline) - offline).ends_with("online"));

    // Changes: a key added, a member added then deactivated at the authority.
    const auto key = ssh_keygen(p.authority->dir(), "agent-key");
    REQUIRE(p.authority->post("/v1/ssh_keys", {{"name", "laptop"}, {"public_key", key.public_line}}, p.seed.owner.uid).status == 201);
    REQUIRE(eventually([&] { return keys_of(*agent, owner_name) == 1; }));
    const Member m = add_member(*p.authority, p.seed.account_id, "mgr@example.com", "manager");
    const std::string mgr = m.json["unix_name"];
    REQUIRE(eventually([&] { return allowed(*agent, mgr); }));
    REQUIRE(p.authority->put("/v1/account/users/" + m.id, {{"status", "deactivated"}}, 0, account_header(p.seed.account_id)).status == 200);
    REQUIRE(eventually([&] { return !allowed(*agent, mgr); }));
    CHECK(agent_server(*agent)["sync"]["revision"] == authority_revision(p));
    CHECK(agent_server(*agent)["sync"]["rejected_answers"] == 0);

    // The portal goes away; the agent restarts: it serves the last good state at once.
    p.authority->stop();
    agent->stop();
    agent->start();
    CHECK(allowed(*agent, owner_name));
    CHECK(keys_of(*agent, owner_name) == 1);
    CHECK_FALSE(allowed(*agent, mgr));
    REQUIRE(eventually([&] { return agent_server(*agent)["sync"]["offline_since"].get<std::int64_t>() > 0; }));
    CHECK_FALSE(agent_server(*agent)["sync"]["last_error"].get<std::string>().empty());
    CHECK(allowed(*agent, owner_name));  // still: within offline_grace

    // The portal returns (same address): the agent catches up with what changed meanwhile.
    p.authority->start();
    REQUIRE(p.authority->put("/v1/account/users/" + m.id, {{"status", "active"}}, 0, account_header(p.seed.account_id)).status == 200);
    REQUIRE(eventually([&] { return allowed(*agent, mgr); }));
    CHECK(agent_server(*agent)["sync"]["offline_since"] == 0);
    CHECK(agent->log().find(p.host_token) == std::string::npos);  // the host token is never logged
}

TEST_CASE("agent: a revoked host token stops portal logins at once - local users are not concerned",
          "[api][agent][https]") {
    Portal p = start_portal("agent-revoke-portal", free_loopback_port());
    const std::string owner_name = p.seed.owner.json["unix_name"];
    auto agent = start_agent("agent-revoke", p);
    REQUIRE(eventually([&] { return allowed(*agent, owner_name); }));

    auto hosts = p.authority->get("/v1/hosts", p.seed.owner.uid);
    REQUIRE(hosts.json.size() == 1);
    REQUIRE(p.authority->del("/v1/hosts/" + hosts.json[0]["id"].get<std::string>(), p.seed.owner.uid).status == 204);
    REQUIRE(eventually([&] { return !allowed(*agent, owner_name); }));
    const auto s = agent_server(*agent)["sync"];
    CHECK(s["host_token_refused"] == true);
    CHECK(s["members_refused"] == true);
    // root is not a portal member: the agent does not claim it.
    auto root = login_client(*agent).check_account("root", "192.0.2.1", "sshd");
    REQUIRE(root.ok());
    CHECK_FALSE(root.value.portal_user);
}

TEST_CASE("agent: past offline_grace members are refused, and come back when the portal answers", "[api][agent][https]") {
    const int port = free_loopback_port();
    Portal p = start_portal("agent-grace-portal", port);
    const std::string owner_name = p.seed.owner.json["unix_name"];
    auto agent = start_agent("agent-grace", p, "offline_grace = 60\n");
    REQUIRE(eventually([&] { return allowed(*agent, owner_name); }));
    p.authority->stop();
    agent->stop();
    // The last answer is long ago: as if the portal had been away for longer than the grace.
    portal::store::sqlite::Db::open(agent->state_dir() / "synced.db")
        .exec("UPDATE synced_account SET synced_at = synced_at - 3600");
    agent->start();
    CHECK_FALSE(allowed(*agent, owner_name));
    CHECK(agent_server(*agent)["sync"]["members_refused"] == true);
    p.authority->start();
    REQUIRE(eventually([&] { return allowed(*agent, owner_name); }));
}

TEST_CASE("agent: a member's TOTP code is checked by the portal - no answer means the code cannot be checked now",
          "[api][agent][https][tfa]") {
    Portal p = start_portal("agent-tfa-portal", free_loopback_port());
    const std::string owner_name = p.seed.owner.json["unix_name"];
    const Enrolled tfa = enrol_tfa(*p.authority, p.seed.owner.uid);
    auto agent = start_agent("agent-tfa", p);
    REQUIRE(eventually([&] {
        auto r = login_client(*agent).check_account(owner_name, "192.0.2.1", "sshd");
        return r.ok() && r.value.allow && r.value.tfa_required;
    }));

    auto client = login_client(*agent);
    auto wrong = client.verify_code(owner_name, wrong_totp(tfa.secret), "192.0.2.1", "sshd");
    REQUIRE(wrong.ok());
    CHECK(wrong.value.result == portal::ipc::VerifyResult::wrong_code);
    auto replayed = client.verify_code(owner_name, tfa.spent_code, "192.0.2.1", "sshd");
    REQUIRE(replayed.ok());
    CHECK(replayed.value.result == portal::ipc::VerifyResult::wrong_code);  // the portal's replay mark
    const std::string code = totp_now(tfa.secret, 1);
    auto right = client.verify_code(owner_name, code, "192.0.2.1", "sshd");
    REQUIRE(right.ok());
    CHECK(right.value.result == portal::ipc::VerifyResult::ok);
    CHECK(agent->log().find(code) == std::string::npos);  // never logged

    p.authority->stop();
    auto down = client.verify_code(owner_name, totp_now(tfa.secret, -1), "192.0.2.1", "sshd");
    REQUIRE(down.ok());
    CHECK(down.value.result == portal::ipc::VerifyResult::unavailable);
    CHECK(allowed(*agent, owner_name));  // the key and account checks go on from the last good state
}

TEST_CASE("agent: login decisions reach the portal's history, none lost while it is down", "[api][agent][https][events]") {
    Portal p = start_portal("agent-events-portal", free_loopback_port());
    const std::string owner = p.seed.owner.json["unix_name"];
    const Member m = add_member(*p.authority, p.seed.account_id, "off@example.com", "manager");
    REQUIRE(p.authority->put("/v1/account/users/" + m.id, {{"status", "deactivated"}}, 0, account_header(p.seed.account_id)).status == 200);
    const std::string off = m.json["unix_name"];
    auto agent = start_agent("agent-events", p);
    REQUIRE(eventually([&] { return allowed(*agent, owner); }));
    auto history = [&] { return p.authority->get("/v1/account/logins", p.seed.owner.uid).json; };

    auto client = login_client(*agent);
    REQUIRE(client.session_event(owner, portal::ipc::SessionEventKind::open, "192.0.2.7", "sshd", "pts/1").ok());
    REQUIRE(client.check_account(off, "192.0.2.8", "sshd").ok());  // refused: deactivated
    REQUIRE(eventually([&] { return history().size() == 2; }));
    const auto h = history();
    bool saw_allow = false, saw_deny = false;
    for (const auto& e : h) {
        if (e["decision"] == "allow") {
            saw_allow = e["user_id"] == p.seed.owner.id && e["ip"] == "192.0.2.7" && e["reason"] == "session_opened";
        } else {
            saw_deny = e["user_id"] == m.id && e["ip"] == "192.0.2.8" && e["reason"] == "deactivated";
        }
    }
    CHECK(saw_allow);
    CHECK(saw_deny);
    auto user = p.authority->get("/v1/account/users/" + p.seed.owner.id, p.seed.owner.uid);
    CHECK(user.json["last_login"]["ip"] == "192.0.2.7");

    // The portal is down: events wait in the queue, through an agent restart.
    p.authority->stop();
    for (int i = 0; i < 5; ++i)
        REQUIRE(client.session_event(owner, portal::ipc::SessionEventKind::open, "192.0.2.9", "sshd", "pts/2").ok());
    REQUIRE(eventually([&] { return agent_server(*agent)["sync"]["login_events_queued"] == 5; }));
    agent->stop();
    agent->start();
    CHECK(agent_server(*agent)["sync"]["login_events_queued"] == 5);
    p.authority->start();
    REQUIRE(eventually([&] { return agent_server(*agent)["sync"]["login_events_queued"] == 0; }));
    CHECK(history().size() == 7);  // every one, once
    CHECK(agent_server(*agent)["sync"]["login_events_dropped"] == 0);
}
