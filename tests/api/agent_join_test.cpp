// portalctl join / leave (issue 11): a fresh server becomes an agent with one command, run as
// root against its own daemon's socket; the daemon registers at the portal, keeps the host
// token (0600) and settings in its state directory, and restarts as an agent. leave undoes it.
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/api/support/agents.h"

using namespace portal::test;

namespace {

std::string new_enrolment(const Portal& p) {
    auto e = p.authority->post("/v1/hosts/enrolments", {{"name", "joiner"}}, 0, account_header(p.seed.account_id));
    REQUIRE(e.status == 201);
    return e.json["token"];
}

std::string portalctl_at(const Daemon& d, const std::string& args, int* rc) {
    return run_command(std::string(PORTALCTL_BIN) + " --socket " + d.socket().string() + " " + args + " 2>&1", rc);
}

}  // namespace

TEST_CASE("join: a fresh server becomes an agent with one command, and leave undoes it", "[api][agent][join]") {
    Portal p = start_portal("join-portal", free_loopback_port());
    const std::string owner = p.seed.owner.json["unix_name"];
    Daemon server("join-server");  // the default configuration: an authority with no accounts
    const std::string enrolment = new_enrolment(p);
    const auto token_file = server.dir() / "enrolment-token";
    std::ofstream(token_file) << enrolment << "\n";

    int rc = -1;
    // Without the portal's pin or CA, and with a made-up token: refused, nothing kept.
    std::string out = portalctl_at(server, "join https://" + p.https.address + " --token-file " + token_file.string(), &rc);
    CHECK(rc == 1);
    CHECK(out.find("pin") != std::string::npos);
    out = portalctl_at(server, "join https://" + p.https.address + " --pin " + p.https.pin, &rc);
    CHECK(rc == 2);  // no token given: a usage error, and never an argument
    CHECK_FALSE(std::filesystem::exists(server.state_dir() / "portal.toml"));

    out = portalctl_at(server, "join https://" + p.https.address + " --pin " + p.https.pin + " --token-file " +
                                   token_file.string(), &rc);
    INFO(out);
    REQUIRE(rc == 0);
    CHECK(out.find("hst_") != std::string::npos);
    REQUIRE(eventually([&] { return allowed(server, owner); }));
    CHECK(agent_server(server)["mode"] == "agent");
    CHECK(out.find(agent_server(server)["sync"]["host_id"].get<std::string>()) != std::string::npos);
    struct stat st {};
    REQUIRE(::stat((server.state_dir() / "host-token").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const std::string host_token = read_file(server.state_dir() / "host-token");
    CHECK(host_token.starts_with("pk_host_"));
    CHECK(server.log().find(host_token.substr(0, host_token.size() - 1)) == std::string::npos);
    CHECK(server.log().find(enrolment) == std::string::npos);
    auto hosts = p.authority->get("/v1/hosts", p.seed.owner.uid);
    REQUIRE(hosts.json.size() == 2);  // start_portal's and this one

    // Joined once: a second join is refused; the joined settings survive a restart.
    out = portalctl_at(server, "join https://" + p.https.address + " --pin " + p.https.pin + " --token-file " +
                                   token_file.string(), &rc);
    CHECK(rc == 7);
    server.stop();
    server.start();
    CHECK(allowed(server, owner));

    out = portalctl_at(server, "leave", &rc);
    CHECK(rc == 2);  // without --yes
    out = portalctl_at(server, "leave --yes", &rc);
    REQUIRE(rc == 0);
    CHECK_FALSE(allowed(server, owner));
    CHECK(server.get("/v1/accounts").status == 200);  // an authority again, with its own (empty) store
    CHECK_FALSE(std::filesystem::exists(server.state_dir() / "portal.toml"));
    CHECK_FALSE(std::filesystem::exists(server.state_dir() / "host-token"));
    CHECK_FALSE(std::filesystem::exists(server.state_dir() / "synced.db"));
}

TEST_CASE("join: a server that is itself a portal with accounts joins only when told to set them aside",
          "[api][agent][join]") {
    Portal p = start_portal("join-busy-portal", free_loopback_port());
    Daemon server("join-busy");
    const Seed own = seed_account(server, "Own", "own");
    const auto token_file = server.dir() / "enrolment-token";
    std::ofstream(token_file) << new_enrolment(p) << "\n";
    const std::string join = "join https://" + p.https.address + " --pin " + p.https.pin + " --token-file " + token_file.string();
    int rc = -1;
    std::string out = portalctl_at(server, join, &rc);
    CHECK(rc == 7);
    CHECK(out.find("--discard-local-accounts") != std::string::npos);
    CHECK(server.get("/v1/accounts").json.size() == 1);
    // Only root may ask.
    auto member = server.post("/v1/server/join", {{"url", "https://" + p.https.address}}, own.owner.uid);
    CHECK(member.status == 403);

    out = portalctl_at(server, join + " --discard-local-accounts", &rc);
    INFO(out);
    REQUIRE(rc == 0);
    REQUIRE(eventually([&] { return allowed(server, p.seed.owner.json["unix_name"]); }));
    CHECK_FALSE(allowed(server, own.owner.json["unix_name"]));
    bool set_aside = false;
    for (const auto& e : std::filesystem::directory_iterator(server.state_dir()))
        set_aside = set_aside || e.path().filename().string().starts_with("portal.db.set-aside-");
    CHECK(set_aside);
}
