// End to end, agent mode (issue 11): the World's daemon joins a second, real portal-keyd
// (the authority, over real TLS) with portalctl join; a real sshd on the agent lets members in
// from the synced state: a key added, 2FA checked at the authority, a member deactivated (their
// open session ends), and logins going on while the authority is down.
#include <catch2/catch.hpp>

#include "tests/e2e/support/authority.h"
#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

TEST_CASE("agent: sshd on an agent follows the authority, and keeps logging members in while it is down",
          "[e2e][agent]") {
    WorldOptions o;
    o.start = false;
    World w("agent", o);
    Authority portal(w.dir() / "authority", w.uid_min(), w.uid_max());
    w.start_daemon();
    w.join(portal);
    w.start_sshd();

    Member m = w.add_member("ada@example.com", "manager");
    Member tfa = w.add_member("tom@example.com", "owner");
    w.enrol_tfa(tfa);
    Member bystander = w.add_member("bo@example.com", "manager");
    {
        auto r = login_eventually(w, m);
        INFO(r.transcript() << "\n" << w.diagnostics());
        REQUIRE(r.ok());
    }
    REQUIRE(login_eventually(w, bystander).ok());
    {
        auto r = login_eventually(w, tfa);  // the code is checked at the authority
        INFO(r.transcript() << "\n" << w.diagnostics() << "\n" << tail(portal.log()));
        REQUIRE(r.ok());
    }
    CHECK_FALSE(w.login(tfa.unix_name, tfa.key, [&] { return std::optional<std::string>(w.spent_code(tfa)); }).ok());

    // A key added at the authority: the agent's sshd takes it.
    w.add_key(m);
    REQUIRE(login_eventually(w, m).ok());

    // A deactivated member's open session on the agent ends.
    auto session = w.client();
    REQUIRE(session->login({m.unix_name, m.key, {}}).ok());
    REQUIRE(session->start("sleep 60"));
    REQUIRE(wait_until([&] { return !processes_of(m.uid).empty(); }, 5000ms));
    w.set_status(m, "deactivated");
    CHECK(session->wait_channel_closed(5000ms));
    const auto refusal = refused_within(w, m, 3000ms);
    CHECK(refusal.refused);

    // The authority goes away: members keep logging in with their keys; a code cannot be
    // checked now (pam_portal.so tells the member so).
    portal.stop();
    CHECK(w.login(bystander).ok());
    auto coded = w.login(tfa);
    CHECK_FALSE(coded.ok());
    CHECK(w.daemon_log().find("reason=portal_unreachable") != std::string::npos);
    CHECK(w.sanitizer_reports().empty());
}
