// An agent's local API (issue 11): what the agent does not answer itself goes to the portal
// with the caller's own credential — `portalctl login`'s session or an API token in
// PORTAL_TOKEN — never with the host token; without one, 401 saying how to sign in. The
// portal's answer (status, body, correlation id) comes back unchanged. Two real daemons over
// real TLS, the real portalctl run as the member; a scripted portal for what a real one
// would not send on cue.
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/api/support/agents.h"
#include "tests/api/support/fake_portal.h"

using namespace portal::test;

namespace {

constexpr const char* kForwardPassword = "correct horse battery";

std::string sh_quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// A directory of the member's own for their $XDG_CONFIG_HOME.
std::filesystem::path config_home_of(uid_t uid, const std::string& name) {
    std::string tmpl = "/tmp/" + name + "-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    REQUIRE(::chown(tmpl.c_str(), uid, uid) == 0);
    return tmpl;
}

// portalctl on the agent's socket as `uid`, with stdin from `input`.
std::string ctl_as(uid_t uid, const Daemon& agent, const std::filesystem::path& config_home, const std::string& args,
                   const std::string& input, int* rc, const std::string& env = "") {
    const std::string id = std::to_string(uid);
    return run_command("printf '%s' " + sh_quoted(input) + " | env -u PORTAL_URL -u PORTAL_PIN -u PORTAL_TOKEN " +
                           "XDG_CONFIG_HOME=" + sh_quoted(config_home.string()) + " " + env + " setpriv --reuid " + id +
                           " --regid " + id + " --clear-groups " + PORTALCTL_BIN + " --socket " +
                           sh_quoted(agent.socket().string()) + " " + args + " 2>&1",
                       rc);
}

HeaderList bearer(const std::string& token, const std::string& correlation_id = "") {
    HeaderList h{{"Authorization", "Bearer " + token}};
    if (!correlation_id.empty()) h.emplace_back("X-Correlation-ID", correlation_id);
    return h;
}

}  // namespace

TEST_CASE("agent API: changes go to the portal with the caller's own credential, never the host's",
          "[api][agent][forward]") {
    Portal p = start_portal("fwd-portal", free_loopback_port());
    const uid_t owner = p.seed.owner.uid;
    const std::string owner_name = p.seed.owner.json["unix_name"];
    REQUIRE(p.authority->put("/v1/profile/password", {{"password", kForwardPassword}}, owner).status == 204);
    auto agent = start_agent("fwd-agent", p);
    REQUIRE(eventually([&] { return allowed(*agent, owner_name); }));

    // Nobody this server does not know: not even a question reaches the portal.
    CHECK(agent->get("/v1/account", kUnknownUid).status == 403);
    // Without a credential, a change is refused here, saying how to sign in; root included
    // (root on one server is not an owner of the whole account).
    const auto key = ssh_keygen(agent->dir(), "fwd-key");
    const nlohmann::json new_key{{"name", "laptop"}, {"public_key", key.public_line}};
    for (uid_t uid : {owner, static_cast<uid_t>(0)}) {
        const auto r = agent->post("/v1/ssh_keys", new_key, uid);
        INFO(r.describe());
        CHECK(r.status == 401);
        CHECK(r.json.value("message", "").find("portalctl login") != std::string::npos);
        CHECK(r.header("www-authenticate").starts_with("Bearer"));
    }

    // portalctl login through the agent: the portal makes the session; it is kept 0600.
    const auto home = config_home_of(owner, "fwd-owner");
    int rc = -1;
    std::string out = ctl_as(owner, *agent, home, "keys add --name laptop -", key.public_line + "\n", &rc);
    CHECK(rc == 1);
    CHECK(out.find("portalctl login") != std::string::npos);
    out = ctl_as(owner, *agent, home, "login --email " + p.seed.owner.email, std::string("wrong password\n"), &rc);
    CHECK(rc == 1);
    CHECK_FALSE(std::filesystem::exists(home / "portalctl" / "session"));
    out = ctl_as(owner, *agent, home, "login --email " + p.seed.owner.email, std::string(kForwardPassword) + "\n", &rc);
    INFO(out);
    REQUIRE(rc == 0);
    struct stat st {};
    REQUIRE(::stat((home / "portalctl" / "session").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(st.st_uid == owner);
    const std::string session = read_file(home / "portalctl" / "session");
    CHECK(session.starts_with("pk_ses_"));
    const std::string token = session.substr(0, session.find('\n'));
    CHECK(session.substr(token.size()) == "\nhttps://" + p.https.address + "\n");  // the portal that made it
    CHECK(agent->log().find(token) == std::string::npos);
    CHECK(agent->log().find(kForwardPassword) == std::string::npos);

    // The change goes to the portal as the owner, and comes back to this server's logins.
    out = ctl_as(owner, *agent, home, "keys add --name laptop -", key.public_line + "\n", &rc);
    INFO(out);
    CHECK(rc == 0);
    CHECK(eventually([&] { return keys_of(*agent, owner_name) == 1; }));
    CHECK(list_all(*p.authority, "/v1/ssh_keys", owner).items.size() == 1);

    // The portal's answers pass back unchanged, with the caller's correlation id on both sides.
    auto r = agent->put("/v1/account", {{"name", 7}}, owner, bearer(token, "fwd-corr-1"));
    INFO(r.describe());
    CHECK(r.status == 422);
    CHECK(r.json.contains("errors"));
    CHECK(r.header("x-correlation-id") == "fwd-corr-1");
    CHECK(p.authority->log().find("fwd-corr-1") != std::string::npos);
    // A manager's own API token: the portal's guard decides (owner only: 403), not this server.
    const Member m = add_member(*p.authority, p.seed.account_id, "fwd-mgr@example.com", "manager");
    const auto mgr_token = create_api_token(*p.authority, m.uid, "agent", "full");
    REQUIRE(eventually([&] { return allowed(*agent, m.json["unix_name"]); }));
    r = agent->put("/v1/account", {{"name", "Renamed"}}, m.uid, bearer(mgr_token.secret));
    CHECK(r.status == 403);
    CHECK(r.json.value("message", "") == "only an owner of the account may do this");
    const auto home_mgr = config_home_of(m.uid, "fwd-mgr");
    out = ctl_as(m.uid, *agent, home_mgr, "account set --name Renamed", "", &rc, "PORTAL_TOKEN=" + mgr_token.secret);
    CHECK(rc == 6);

    // logout ends the session at the portal and forgets it here.
    out = ctl_as(owner, *agent, home, "logout", "", &rc);
    INFO(out);
    CHECK(rc == 0);
    CHECK_FALSE(std::filesystem::exists(home / "portalctl" / "session"));
    CHECK(agent->put("/v1/account", {{"name", "X"}}, owner, bearer(token)).status == 401);

    // The portal down: a change cannot be made, and the answer says so.
    p.authority->stop();
    r = agent->put("/v1/account", {{"name", "X"}}, owner, bearer(mgr_token.secret));
    CHECK(r.status == 502);
    CHECK(r.json.value("code", "") == "PORTAL_UNREACHABLE");
    CHECK(allowed(*agent, owner_name));  // logins go on
    std::filesystem::remove_all(home);
    std::filesystem::remove_all(home_mgr);
}

TEST_CASE("agent API: the portal's answer comes back as it was sent, and only the caller's credential goes",
          "[api][agent][forward]") {
    FakePortal fake("fwd-fake");
    fake.answer("/v1/account/users", ScriptedAnswer{418,
                                                    R"({"code":"TEAPOT","message":"as the portal said"})",
                                                    {{"Retry-After", "7"},
                                                     {"X-Total", "3"},
                                                     {"Set-Cookie", "a=b"},
                                                     {"X-Correlation-ID", "ignored"}}});
    auto agent = start_agent("fwd-fake-agent", AgentTarget{fake.address(), fake.pin(), "", "pk_host_fwdfakehosttoken"});
    const auto r = agent->post("/v1/account/users?x=1", {{"email", "a@example.com"}}, 0,
                               {{"Authorization", "Bearer pk_ses_callerstoken"},
                                {"X-Correlation-ID", "fwd-fake-1"},
                                {"X-Account-ID", "acc_fwd"}});
    INFO(r.describe());
    CHECK(r.status == 418);
    CHECK(r.body == R"({"code":"TEAPOT","message":"as the portal said"})");
    CHECK(r.header("retry-after") == "7");
    CHECK(r.header("x-total") == "3");
    CHECK_FALSE(r.has_header("set-cookie"));
    CHECK(r.header("x-correlation-id") == "fwd-fake-1");
    const auto seen = fake.last_request("/v1/account/users");
    CHECK(seen.method == "POST");
    CHECK(seen.headers.at("authorization") == "Bearer pk_ses_callerstoken");
    CHECK(seen.headers.at("x-correlation-id") == "fwd-fake-1");
    CHECK(seen.headers.at("x-account-id") == "acc_fwd");
    CHECK(nlohmann::json::parse(seen.body) == nlohmann::json{{"email", "a@example.com"}});
    CHECK(fake.requests("/v1/account/users") == 1);

    // Signing in is sent on without any credential (the proof is in the body).
    fake.answer("/v1/auth/sessions", ScriptedAnswer{201, R"({"token":"pk_ses_new","expires_at":"x"})", {}});
    CHECK(agent->post("/v1/auth/sessions", {{"email", "a@example.com"}, {"password", "p"}}, 0).status == 201);
    CHECK(fake.last_request("/v1/auth/sessions").headers.count("authorization") == 0);
    CHECK(fake.last_request("/v1/auth/sessions").body.find("\"password\"") != std::string::npos);

    // What cannot go on is refused here and never reaches the portal.
    fake.answer("/v1/api_tokens", ScriptedAnswer{200, "[]", {}});
    const HeaderList good = {{"Authorization", "Bearer pk_ses_callerstoken"}};
    auto refused = [&](const std::string& method, const std::string& path, const HeaderList& h) {
        return agent->send_raw(method, path, method == "GET" ? "" : "{}", 0, h).status;
    };
    CHECK(refused("POST", "/v1/api_tokens", {{"Authorization", "Bearer pk_ses_x;rm -rf"}}) == 401);
    CHECK(refused("POST", "/v1/api_tokens", {{"Authorization", "Bearer pk_ses_x"}, {"X-Account-ID", "acc x"}}) == 400);
    CHECK(refused("POST", "/v1/x/../api_tokens", good) == 400);
    CHECK(refused("OPTIONS", "/v1/api_tokens", good) == 405);
    CHECK(refused("POST", "/v1/api_tokens", {{"Authorization", "Bearer pk_ses_x"}, {"X-Portal-Session-For", "https://other:8443"}}) == 401);
    CHECK(refused("POST", "/v1/api_tokens", {{"Authorization", "Bearer pk_ses_x"}, {"X-Portal-Session-For", "https://" + fake.address()}}) == 200);
    CHECK(fake.requests("/v1/api_tokens") == 1);
    CHECK(refused("GET", "/v1/ssh_keys", good) == 503);  // a read of the synced copy, before any sync
    CHECK(fake.requests("/v1/ssh_keys") == 0);
}
