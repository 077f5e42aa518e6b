// Not a unit test: the driver of tests/e2e/userdb_nss_test.sh, hidden from normal runs
// ("[.]"). It publishes a fixed set of members the way the daemon does (plan, drop-ins in
// /run/userdb, provider in /run/systemd/userdb) and serves until SIGTERM, so the script can
// ask getent/id/userdbctl. It writes to the real /run paths: it runs only as root with
// PORTAL_USERDB_E2E=1, which the script sets inside its private mount namespace.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "keyd/userdb/userdb.h"

namespace userdb_e2e_driver_test {

using namespace portal;
using namespace portal::userdb;

namespace {

ipc::LoginMember e2e_member(std::string name, std::uint32_t uid, Role role, MemberStatus status, bool tfa) {
    ipc::LoginMember m;
    m.unix_name = std::move(name);
    m.uid = uid;
    m.user_id = "usr_" + m.unix_name;
    m.role = role;
    m.status = status;
    m.tfa_enabled = tfa;
    m.keys = {{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl " + m.unix_name,
               "SHA256:x"}};
    return m;
}

ipc::LoginState e2e_state(bool phase2) {
    ipc::LoginState s;
    s.members.push_back(e2e_member("e2eowner", 233101, Role::owner, MemberStatus::active, true));
    if (!phase2) s.members.push_back(e2e_member("e2emgr", 233102, Role::manager, MemberStatus::active, false));
    s.members.push_back(e2e_member("e2egone", 233103, Role::owner, MemberStatus::deactivated, true));
    s.members.push_back(e2e_member("e2einv", 233104, Role::manager, MemberStatus::invited, false));
    s.members.push_back(e2e_member("e2eclash", 233105, Role::manager, MemberStatus::active, false));  // foreign drop-in
    s.members.push_back(e2e_member("e2euidclash", 1, Role::manager, MemberStatus::active, false));    // uid of daemon
    return s;
}

// Plans with fresh NSS-based checks, as the daemon does on every change.
PublishPlan plan(const UserdbConfig& cfg, bool phase2) {
    return plan_publication(e2e_state(phase2), cfg, local_name_check(cfg), local_id_check(cfg));
}

std::string published_names(const ipc::LoginState& s) {
    std::string out;
    for (const auto& m : s.members)
        if (m.published) out += (out.empty() ? "" : ",") + m.unix_name;
    return out;
}

}  // namespace

TEST_CASE("userdb e2e driver", "[.][userdb_e2e]") {
    const char* enabled = std::getenv("PORTAL_USERDB_E2E");
    if (::getuid() != 0 || !enabled || std::string(enabled) != "1") FAIL("only for tests/e2e/userdb_nss_test.sh");

    UserdbConfig cfg;  // the real paths: nss-systemd reads only those
    ensure_userdb_bypass(cfg);
    DropinWriter writer(cfg);
    boost::asio::io_context io(1);
    Provider provider(io, cfg);

    auto publish = [&](bool phase2) {
        auto p = plan(cfg, phase2);
        for (const auto& w : p.warnings) std::cout << "warning: " << w << "\n";
        writer.publish(p.state);
        provider.update(std::make_shared<const ipc::LoginState>(p.state));
        std::cout << "published: " << published_names(p.state) << "\n";
        // Planning again after publication must not take our own drop-ins for local users.
        auto again = plan(cfg, phase2);
        std::cout << "replanned: " << published_names(again.state) << "\n";
        CHECK(published_names(again.state) == published_names(p.state));
        writer.publish(again.state);
        CHECK(writer.last_changes() == 0);
    };
    // Signal handlers first: the script signals as soon as it reads READY.
    boost::asio::signal_set phase(io, SIGUSR1);
    phase.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        publish(true);
        std::cout << "PHASE2" << std::endl;
    });
    boost::asio::signal_set stop(io, SIGTERM, SIGINT);
    stop.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
    publish(false);
    std::cout << "READY" << std::endl;
    io.run();
    std::cout << "STOPPED" << std::endl;
}

}  // namespace userdb_e2e_driver_test
