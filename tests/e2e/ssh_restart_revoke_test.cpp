// End to end: revocations survive a restart. A member who lost access while the daemon was
// down, or after it answered the API but before it published (a crash), has their open SSH
// session ended when the daemon starts again (no logind here: by signals).
#include <signal.h>

#include <catch2/catch.hpp>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

namespace {

// Both members logged in with a running command; returns the two sessions.
std::pair<std::unique_ptr<SshClient>, std::unique_ptr<SshClient>> open_sessions(World& w, Member& m, Member& other) {
    REQUIRE(login_eventually(w, m).ok());
    REQUIRE(login_eventually(w, other).ok());
    auto session = w.client();
    REQUIRE(session->login({m.unix_name, m.key, {}}).ok());
    REQUIRE(session->start("sleep 120"));
    auto bystander = w.client();
    REQUIRE(bystander->login({other.unix_name, other.key, {}}).ok());
    REQUIRE(bystander->start("sleep 120"));
    REQUIRE(wait_until([&] { return !processes_of(m.uid).empty() && !processes_of(other.uid).empty(); }, 5000ms));
    return {std::move(session), std::move(bystander)};
}

void check_ended_at_start(World& w, SshClient& session, SshClient& bystander, const Member& m, const Member& other) {
    // Still open while the daemon is down: nothing ended it.
    REQUIRE_FALSE(session.wait_channel_closed(300ms));
    w.start_daemon();
    const bool closed = session.wait_channel_closed(5000ms);
    INFO("processes left: " << processes_of(m.uid).size() << "\n" << w.diagnostics());
    CHECK(closed);
    CHECK(wait_until([&] { return processes_of(m.uid).empty(); }, 5000ms));
    CHECK(w.daemon_log().find("lost access while the daemon was down") != std::string::npos);
    // The other member's session goes on.
    CHECK_FALSE(bystander.wait_channel_closed(300ms));
    CHECK_FALSE(processes_of(other.uid).empty());
}

}  // namespace

TEST_CASE("a member deactivated in the store but never published loses their session at the next start",
          "[e2e][revoke][restart]") {
    World w("restart-revoke");
    Member m = w.add_member("rita@example.com", "manager");
    Member other = w.add_member("otto@example.com", "manager");
    auto [session, bystander] = open_sessions(w, m, other);

    // The crash window, made exact: the daemon is killed, and the change it had committed
    // (its API already answered) is in the database, never published.
    CHECK(w.stop_daemon(SIGKILL) == 128 + SIGKILL);
    const auto db = (w.dir() / "state" / "portal.db").string();
    auto r = run({"/usr/bin/sqlite3", db,
                  "UPDATE memberships SET status = 'deactivated' WHERE user_id = '" + m.id + "';"});
    INFO(r.out);
    REQUIRE(r.status == 0);
    check_ended_at_start(w, *session, *bystander, m, other);
    // And the member is refused.
    CHECK(refused_within(w, m, 3000ms).refused);
}

TEST_CASE("a member deactivated through the API and a crash right after: the session is gone after the restart",
          "[e2e][revoke][restart]") {
    World w("restart-revoke-api");
    Member m = w.add_member("ruth@example.com", "manager");
    Member other = w.add_member("olga@example.com", "manager");
    auto [session, bystander] = open_sessions(w, m, other);

    // Killed as soon as the API answered: the daemon may or may not have published and ended
    // the session before it died; after the restart the session is gone either way.
    w.set_status(m, "deactivated");
    CHECK(w.stop_daemon(SIGKILL) == 128 + SIGKILL);
    w.start_daemon();
    const bool closed = session->wait_channel_closed(5000ms);
    INFO("processes left: " << processes_of(m.uid).size() << "\n" << w.diagnostics());
    CHECK(closed);
    CHECK(wait_until([&] { return processes_of(m.uid).empty(); }, 5000ms));
    CHECK_FALSE(bystander->wait_channel_closed(300ms));
    CHECK(refused_within(w, m, 3000ms).refused);
}
