// Agent faults (issue 11): HTTP-level faults from a scripted portal (FakePortal: real TLS,
// the feed's paths and shapes) and network faults from a TCP proxy in front of a real
// authority (FaultProxy). In every case members keep logging in from the last good state, a
// bad answer never replaces it, and the agent takes the good answers again once the fault ends.
#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <thread>

#include "shared/ipc/feed_changes.h"
#include "shared/ipc/login_state.h"
#include "tests/api/support/agents.h"
#include "tests/api/support/fake_portal.h"

using namespace portal::test;

namespace {

const std::string kFakeHostToken = "pk_host_" + std::string(43, 'h');

portal::ipc::LoginState scripted_state(std::uint64_t revision, std::size_t keys, const std::string& account = "acc_fake") {
    portal::ipc::LoginState s;
    s.account_id = account;
    s.revision = revision;
    portal::ipc::LoginMember m;
    m.unix_name = "alice";
    m.uid = 200001;
    m.user_id = "usr_alice";
    m.role = portal::Role::owner;
    for (std::size_t i = 0; i < keys; ++i)
        m.keys.push_back({"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + std::string(42, static_cast<char>('A' + i)) + " k" +
                              std::to_string(i),
                          "SHA256:k" + std::to_string(i)});
    s.members.push_back(m);
    return s;
}

ScriptedAnswer state_answer(const portal::ipc::LoginState& s) {
    ScriptedAnswer a;
    a.body = portal::ipc::to_json(s);
    a.headers = {{"ETag", "\"" + std::to_string(s.revision) + "\""}};
    return a;
}

ScriptedAnswer quiet_changes(std::uint64_t revision) {
    ScriptedAnswer a;
    portal::ipc::FeedChanges c;
    c.revision = revision;
    a.body = portal::ipc::feed_changes_to_json(c);
    a.hold_ms = 200;  // a long-poll that ends without news
    return a;
}

ScriptedAnswer status_answer(int status, std::string body = "", int hold_ms = 0) {
    ScriptedAnswer a;
    a.status = status;
    a.body = std::move(body);
    a.hold_ms = hold_ms;
    return a;
}

// Serves `fault` on `path` until it was asked at least twice more, then checks the agent
// still serves the last good state (alice, `keys` keys, revision `revision`).
void survives(FakePortal& fake, const Daemon& agent, const std::string& path, const ScriptedAnswer& fault,
              std::size_t keys, std::uint64_t revision) {
    const int before = fake.requests(path);
    fake.answer(path, fault);
    REQUIRE(eventually([&] { return fake.requests(path) >= before + 2; }));
    CHECK(allowed(agent, "alice"));
    CHECK(keys_of(agent, "alice") == keys);
    CHECK(agent_server(agent)["sync"]["revision"] == revision);
}

}  // namespace

TEST_CASE("agent faults: bad or failed answers never replace the last good state", "[api][agent][faults]") {
    FakePortal fake("fake-portal");
    fake.answer("/v1/iam/state", state_answer(scripted_state(5, 1)));
    fake.answer("/v1/iam/changes", quiet_changes(5));
    auto agent = start_agent("agent-faults", AgentTarget{fake.address(), fake.pin(), "", kFakeHostToken});
    REQUIRE(eventually([&] { return allowed(*agent, "alice"); }));
    CHECK(fake.last_authorization() == "Bearer " + kFakeHostToken);
    CHECK(keys_of(*agent, "alice") == 1);

    // The long-poll fails in every way the network and the portal can make it fail.
    const auto rejected_before = agent_server(*agent)["sync"]["rejected_answers"].get<int>();
    survives(fake, *agent, "/v1/iam/changes", status_answer(500, R"({"code":"INTERNAL_ERROR","message":"x"})"), 1, 5);
    CHECK(agent_server(*agent)["sync"]["last_error"] == "HTTP 500");
    CHECK(agent_server(*agent)["sync"]["offline_since"].get<std::int64_t>() > 0);
    ScriptedAnswer busy = status_answer(429, R"({"code":"RATE_LIMITED","message":"slow down"})");
    busy.headers = {{"Retry-After", "1"}};
    survives(fake, *agent, "/v1/iam/changes", busy, 1, 5);
    survives(fake, *agent, "/v1/iam/changes", status_answer(200, "{\"revision\":6,\"upserts\":["), 1, 5);
    survives(fake, *agent, "/v1/iam/changes", status_answer(200, R"({"revision":3,"upserts":[],"removed":[]})"), 1, 5);
    survives(fake, *agent, "/v1/iam/changes",
             status_answer(200, R"({"revision":9,"upserts":[{"unix_name":"mallory","uid":0,"user_id":"usr_m","role":"admin",)"
                                R"("status":"active","tfa_enabled":false,"published":true,"keys":[]}],"removed":[]})"),
             1, 5);
    ScriptedAnswer cut = quiet_changes(6);
    cut.hold_ms = 0;
    cut.cut_body_at = 10;
    survives(fake, *agent, "/v1/iam/changes", cut, 1, 5);
    ScriptedAnswer huge = quiet_changes(6);
    huge.body = "{\"revision\":6,\"upserts\":[],\"removed\":[\"" + std::string(17u << 20, 'x') + "\"]}";
    huge.hold_ms = 0;
    survives(fake, *agent, "/v1/iam/changes", huge, 1, 5);
    CHECK(agent_server(*agent)["sync"]["rejected_answers"].get<int>() > rejected_before);

    // 410: the agent asks for the state again; states that must not be taken are refused whole.
    fake.answer("/v1/iam/changes", status_answer(410, R"({"code":"GONE","message":"fetch the state"})"));
    survives(fake, *agent, "/v1/iam/state", state_answer(scripted_state(8, 3, "acc_other")), 1, 5);
    survives(fake, *agent, "/v1/iam/state", state_answer(scripted_state(4, 3)), 1, 5);
    survives(fake, *agent, "/v1/iam/state", status_answer(200, R"({"version":1,"revision":8})"), 1, 5);
    // 401: the host token is refused; members are withheld at once (the state itself is kept).
    fake.answer("/v1/iam/state", status_answer(401, R"({"code":"UNAUTHORIZED","message":"x"})"));
    REQUIRE(eventually([&] { return agent_server(*agent)["sync"]["host_token_refused"] == true; }));
    CHECK_FALSE(allowed(*agent, "alice"));
    CHECK(agent_server(*agent)["sync"]["revision"] == 5);

    // The fault ends: the next good answer is taken.
    fake.answer("/v1/iam/state", state_answer(scripted_state(8, 2)));
    fake.answer("/v1/iam/changes", quiet_changes(8));
    REQUIRE(eventually([&] { return keys_of(*agent, "alice") == 2; }));
    CHECK(allowed(*agent, "alice"));
    const auto s = agent_server(*agent)["sync"];
    CHECK(s["revision"] == 8);
    CHECK(s["host_token_refused"] == false);
    CHECK(s["offline_since"] == 0);
}

TEST_CASE("agent faults: the network fails under a real authority - logins go on and the agent catches up",
          "[api][agent][faults]") {
    const int port = free_loopback_port();
    Portal p = start_portal("agent-net-portal", port);
    const std::string owner = p.seed.owner.json["unix_name"];
    FaultProxy proxy(0, port);
    // Short timeouts: the stalls below last past every one of them without slowing the suite.
    auto agent = start_agent("agent-net", AgentTarget{proxy.address(), p.https.pin, "", p.host_token},
                             "poll_wait = 1\nrequest_timeout = 1\n");
    REQUIRE(eventually([&] { return allowed(*agent, owner); }));

    int keys = 0;
    // One change at the authority while the fault holds; the agent shows it once it is over.
    auto change_during = [&](FaultProxy::Mode mode, int amount, const std::string& expect_error) {
        INFO("fault mode " << static_cast<int>(mode));
        const int connections = proxy.connections();
        proxy.set_mode(mode, amount);
        const auto key = fresh_ed25519_line("net-" + std::to_string(keys));
        REQUIRE(p.authority->post("/v1/ssh_keys", {{"name", "k" + std::to_string(keys)}, {"public_key", key}},
                                  p.seed.owner.uid).status == 201);
        ++keys;
        if (!expect_error.empty()) {
            REQUIRE(eventually([&] {
                const auto s = agent_server(*agent)["sync"];
                return s["offline_since"].get<std::int64_t>() > 0 &&
                       s["last_error"].get<std::string>().find(expect_error) != std::string::npos;
            }, 30));
            CHECK(eventually([&] { return proxy.connections() > connections; }));  // it tried again
            CHECK(allowed(*agent, owner));
            CHECK(keys_of(*agent, owner) == static_cast<std::size_t>(keys - 1));  // the last good state
        }
        proxy.set_mode(FaultProxy::Mode::pass);
        REQUIRE(eventually([&] { return keys_of(*agent, owner) == static_cast<std::size_t>(keys); }));
        CHECK(agent_server(*agent)["sync"]["revision"] == authority_revision(p));
    };
    change_during(FaultProxy::Mode::reset, 0, "");         // connections cut mid long-poll
    change_during(FaultProxy::Mode::stall, 0, "timed out");  // slower than every timeout
    change_during(FaultProxy::Mode::blackhole, 0, "timed out");
    change_during(FaultProxy::Mode::truncate, 300, "");     // TLS records cut short
    change_during(FaultProxy::Mode::delay, 100, "");        // slow but within the timeouts
    CHECK(agent->log().find(p.host_token) == std::string::npos);

    // Another key behind the same address (a machine in the middle): refused by the pin.
    FakePortal impostor("impostor");
    impostor.answer("/v1/iam/state", state_answer(scripted_state(999, 1, p.seed.account_id)));
    proxy.set_upstream(impostor.port());
    proxy.set_mode(FaultProxy::Mode::reset);  // the kept-alive connection goes
    proxy.set_mode(FaultProxy::Mode::pass);
    REQUIRE(eventually([&] {
        return agent_server(*agent)["sync"]["last_error"].get<std::string>().find("pinned") != std::string::npos;
    }));
    CHECK(impostor.requests("/v1/iam/state") == 0);  // not a byte of the request reached it
    CHECK(agent_server(*agent)["sync"]["revision"] == authority_revision(p));
    CHECK(allowed(*agent, owner));
    proxy.set_upstream(port);
    REQUIRE(p.authority->post("/v1/ssh_keys", {{"name", "after"}, {"public_key", fresh_ed25519_line("after")}},
                              p.seed.owner.uid).status == 201);
    REQUIRE(eventually([&] { return keys_of(*agent, owner) == static_cast<std::size_t>(keys + 1); }));
}

TEST_CASE("agent faults: a portal whose certificate expired is not trusted through a CA file", "[api][agent][faults]") {
    FakePortal expired("expired-portal", /*expired=*/true);
    expired.answer("/v1/iam/state", state_answer(scripted_state(5, 1)));
    auto agent = start_agent("agent-expired", AgentTarget{expired.address(), "", expired.ca_file().string(), kFakeHostToken});
    REQUIRE(eventually([&] {
        return agent_server(*agent)["sync"]["last_error"].get<std::string>().find("expired") != std::string::npos;
    }));
    CHECK(expired.requests("/v1/iam/state") == 0);
    CHECK_FALSE(allowed(*agent, "alice"));
    CHECK(agent_server(*agent)["sync"]["revision"] == 0);
}

TEST_CASE("agent faults: a code check the portal is slow to answer holds up no other login", "[api][agent][faults][tfa]") {
    FakePortal fake("slow-tfa-portal");
    auto state = scripted_state(5, 1);
    state.members[0].tfa_enabled = true;
    auto bob = state.members[0];
    bob.unix_name = "bob";
    bob.user_id = "usr_bob";
    bob.uid = 200002;
    bob.tfa_enabled = false;
    state.members.push_back(bob);
    fake.answer("/v1/iam/state", state_answer(state));
    fake.answer("/v1/iam/changes", quiet_changes(5));
    fake.answer("/v1/iam/tfa/verify", status_answer(200, R"({"ok":true,"result":"ok"})", /*hold_ms=*/8000));
    auto agent = start_agent("agent-slow-tfa", AgentTarget{fake.address(), fake.pin(), "", kFakeHostToken}, "tfa_timeout = 4\n");
    REQUIRE(eventually([&] { return allowed(*agent, "bob"); }));

    std::optional<portal::ipc::CallResult<portal::ipc::VerifyCodeReply>> slow;
    std::thread checker([&] {
        portal::ipc::ClientOptions o;
        o.socket_path = (agent->runtime_dir() / "login.sock").string();
        o.timeout = std::chrono::seconds(10);
        slow = portal::ipc::LoginClient(o).verify_code("alice", "123456", "192.0.2.1", "sshd");
    });
    REQUIRE(eventually([&] { return fake.requests("/v1/iam/tfa/verify") == 1; }));
    // The portal is sitting on alice's code: bob's key and account checks answer meanwhile
    // (the login client gives up after 2 s; the check waits up to 4).
    auto keys = login_client(*agent).get_authorized_keys("bob");
    CHECK(keys.ok());
    CHECK(keys.value.keys.size() == 1);
    CHECK(allowed(*agent, "bob"));
    checker.join();
    REQUIRE(slow);
    REQUIRE(slow->ok());
    CHECK(slow->value.result == portal::ipc::VerifyResult::unavailable);
}

TEST_CASE("agent faults: the portal's clock 10 minutes ahead or behind changes nothing here", "[api][agent][faults]") {
    // The agent decides on its own clock only (offline grace from when it last heard the
    // portal, not from the portal's timestamps): a portal whose clock is off by ±10 minutes
    // (its Date header, the state's generated_at) is followed as any other.
    for (const int skew : {600, -600}) {
        FakePortal fake("skewed-portal");
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
        auto state = scripted_state(7, 1);
        state.generated_at = now + skew;
        auto answer = state_answer(state);
        char date[64];
        const std::time_t t = static_cast<std::time_t>(now + skew);
        std::tm tm{};
        ::gmtime_r(&t, &tm);
        std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        answer.headers.emplace_back("Date", date);
        fake.answer("/v1/iam/state", answer);
        auto quiet = quiet_changes(7);
        quiet.headers.emplace_back("Date", date);
        fake.answer("/v1/iam/changes", quiet);
        auto agent = start_agent("agent-skew", AgentTarget{fake.address(), fake.pin(), "", kFakeHostToken},
                                 "offline_grace = 60\npoll_wait = 1\n");
        INFO("skew " << skew << " s");
        REQUIRE(eventually([&] { return allowed(*agent, "alice"); }));
        REQUIRE(eventually([&] { return fake.requests("/v1/iam/changes") >= 3; }));
        const auto sync = agent_server(*agent)["sync"];
        CHECK(sync["revision"] == 7);
        CHECK(sync["offline_since"] == 0);
        CHECK(sync["rejected_answers"] == 0);
        CHECK_FALSE(sync["members_refused"].get<bool>());
        CHECK(allowed(*agent, "alice"));
    }
}
