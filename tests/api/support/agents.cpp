#include "tests/api/support/agents.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace portal::test {

// A TCP port free on 127.0.0.1 now (the authority must come back on the same one).
int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(fd);
    return ntohs(a.sin_port);
}

// Polls `ok` every 50 ms for up to `seconds`.
bool eventually(const std::function<bool()>& ok, int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        if (ok()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return ok();
}


Portal start_portal(const std::string& name, int port) {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:" + std::to_string(port) + "\"\n";
    Portal p;
    p.authority = std::make_unique<Daemon>(name, o);
    p.seed = seed_account(*p.authority);
    p.https = https_listener(*p.authority);
    auto e = p.authority->post("/v1/hosts/enrolments", {{"name", "agent-1"}}, 0, account_header(p.seed.account_id));
    REQUIRE(e.status == 201);
    auto r = https_request(p.https, "", "POST", "/v1/hosts/register",
                           nlohmann::json{{"token", e.json["token"]}, {"hostname", "agent-1"}, {"version", "0.1.0"}}.dump());
    REQUIRE(r.status == 201);
    p.host_token = r.json["host_token"];
    return p;
}

std::unique_ptr<Daemon> start_agent(const std::string& name, const AgentTarget& t, const std::string& extra) {
    const auto token_file = std::filesystem::path(PORTAL_TEST_TMP) / (name + "-host-token");
    std::filesystem::create_directories(token_file.parent_path());
    {
        std::ofstream out(token_file, std::ios::trunc);
        out << t.host_token << "\n";
    }
    std::filesystem::permissions(token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    DaemonOptions o;
    o.extra_toml = "[portal]\nurl = \"https://" + t.address + "\"\nhost_token_file = \"" + token_file.string() +
                   "\"\nretry_max = 1\n";
    // Short rounds unless the case sets its own.
    if (extra.find("poll_wait") == std::string::npos) o.extra_toml += "poll_wait = 5\nrequest_timeout = 2\n";
    if (!t.pin.empty()) o.extra_toml += "pin = \"" + t.pin + "\"\n";
    if (!t.ca_file.empty()) o.extra_toml += "ca_file = \"" + t.ca_file + "\"\n";
    o.extra_toml += extra;
    return std::make_unique<Daemon>(name, o);
}

std::unique_ptr<Daemon> start_agent(const std::string& name, const Portal& p, const std::string& extra) {
    return start_agent(name, AgentTarget{p.https.address, p.https.pin, "", p.host_token}, extra);
}

portal::ipc::LoginClient login_client(const Daemon& d) {
    portal::ipc::ClientOptions o;
    o.socket_path = (d.runtime_dir() / "login.sock").string();
    return portal::ipc::LoginClient(o);
}

nlohmann::json agent_server(const Daemon& agent) {
    auto r = agent.get("/v1/server");
    REQUIRE(r.status == 200);
    return r.json;
}

std::uint64_t authority_revision(const Portal& p) {
    return p.authority->get("/v1/server", 0, account_header(p.seed.account_id)).json["revision"].get<std::uint64_t>();
}

bool allowed(const Daemon& agent, const std::string& unix_name) {
    auto r = login_client(agent).check_account(unix_name, "192.0.2.1", "sshd");
    return r.ok() && r.value.portal_user && r.value.allow;
}

std::size_t keys_of(const Daemon& agent, const std::string& unix_name) {
    auto r = login_client(agent).get_authorized_keys(unix_name);
    return r.ok() ? r.value.keys.size() : 0;
}

}  // namespace portal::test
