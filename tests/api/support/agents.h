// Building blocks of the agent tests: a portal (a real authority with a host enrolled), an
// agent daemon following it, and what the agent's login path answers.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "shared/ipc/login_client.h"
#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

namespace portal::test {

// A TCP port free on 127.0.0.1 now (a daemon that must come back on the same one).
int free_loopback_port();
// Polls `ok` every 50 ms for up to `seconds`.
bool eventually(const std::function<bool()>& ok, int seconds = 15);

struct Portal {
    std::unique_ptr<Daemon> authority;
    Seed seed;
    HttpsTarget https;
    std::string host_token;
};
// An authority listening on 127.0.0.1:`port`, an account, and a host registered in it.
Portal start_portal(const std::string& name, int port);

struct AgentTarget {
    std::string address;  // host:port the agent connects to
    std::string pin;      // or ""
    std::string ca_file;  // or ""
    std::string host_token;
};
// An agent daemon of `t`: its host token in a 0600 file next to nothing else, a short backoff,
// long-poll and request timeout; `extra` goes into [portal].
std::unique_ptr<Daemon> start_agent(const std::string& name, const AgentTarget& t, const std::string& extra = "");
std::unique_ptr<Daemon> start_agent(const std::string& name, const Portal& p, const std::string& extra = "");

ipc::LoginClient login_client(const Daemon& d);
nlohmann::json agent_server(const Daemon& agent);  // GET /v1/server as root
std::uint64_t authority_revision(const Portal& p);
// A portal member the agent lets in (publickey + account check).
bool allowed(const Daemon& agent, const std::string& unix_name);
std::size_t keys_of(const Daemon& agent, const std::string& unix_name);

}  // namespace portal::test
