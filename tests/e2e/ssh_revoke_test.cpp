// End to end: revocation. A removed key, a deactivated member and a removed member are
// refused within 1 s of the API call, and a deactivated member's open session is ended (no
// logind on a bus here: the daemon falls back to signalling the user's processes; the logind
// path is the revocation's own unit test).
#include <catch2/catch.hpp>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

TEST_CASE("a removed key or a deactivated or removed member is refused within 1 s", "[e2e][revoke]") {
    World w("revoke");
    Member keyless = w.add_member("kim@example.com", "manager");
    Member deactivated = w.add_member("dora@example.com", "manager");
    Member removed = w.add_member("remy@example.com", "manager");
    Member tfa = w.add_member("tess@example.com", "manager");
    w.enrol_tfa(tfa);
    Member bystander = w.add_member("ben@example.com", "manager");
    for (Member* m : {&keyless, &deactivated, &removed, &bystander}) {
        auto r = login_eventually(w, *m);
        INFO(m->unix_name << ": " << r.transcript() << "\n" << w.diagnostics());
        REQUIRE(r.ok());
    }
    REQUIRE(wait_until([&] { return w.probe_key(tfa.unix_name, tfa.key) == "partial"; }, 5000ms));

    auto check_refused = [&](Member& m, const char* what) {
        const auto refusal = refused_within(w, m, 1000ms);
        INFO(what << " (" << m.unix_name << "): attempts=" << refusal.attempts << " after="
                  << refusal.after.count() << "ms\n"
                  << refusal.last.transcript() << "\n"
                  << w.diagnostics());
        CHECK(refusal.refused);
        CHECK(refusal.after <= 1000ms);
    };

    SECTION("key removed") {
        w.remove_key(keyless);
        check_refused(keyless, "key removed");
        // A new key works again: the member itself was not touched.
        w.add_key(keyless);
        CHECK(login_eventually(w, keyless).ok());
    }
    SECTION("member deactivated") {
        w.set_status(deactivated, "deactivated");
        check_refused(deactivated, "deactivated");
        // Reactivated: back in.
        w.set_status(deactivated, "active");
        CHECK(login_eventually(w, deactivated).ok());
    }
    SECTION("member removed") {
        w.remove_member(removed);
        check_refused(removed, "removed");
        CHECK_FALSE(lookup_user(removed.unix_name));  // no longer a user on this machine
    }
    SECTION("2FA member deactivated: the key step already fails") {
        w.set_status(tfa, "deactivated");
        check_refused(tfa, "2FA member deactivated");
    }
    // Nobody else is affected.
    auto r = w.login(bystander);
    INFO("bystander: " << r.transcript());
    CHECK(r.ok());
}

TEST_CASE("a deactivated member's open session is ended", "[e2e][revoke]") {
    World w("revoke-session");
    Member m = w.add_member("sam@example.com", "manager");
    Member bystander = w.add_member("bella@example.com", "manager");
    REQUIRE(login_eventually(w, m).ok());
    REQUIRE(login_eventually(w, bystander).ok());

    auto session = w.client();
    REQUIRE(session->login({m.unix_name, m.key, {}}).ok());
    REQUIRE(session->start("sleep 60"));
    auto other = w.client();
    REQUIRE(other->login({bystander.unix_name, bystander.key, {}}).ok());
    REQUIRE(other->start("sleep 60"));
    // The command runs as the member.
    REQUIRE(wait_until([&] { return !processes_of(m.uid).empty(); }, 5000ms));
    REQUIRE_FALSE(session->wait_channel_closed(200ms));

    const auto t0 = Clock::now();
    w.set_status(m, "deactivated");
    const bool closed = session->wait_channel_closed(5000ms);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    INFO("session closed=" << closed << " after " << took.count() << " ms; processes left: "
                           << processes_of(m.uid).size() << "\n"
                           << w.diagnostics());
    CHECK(closed);
    CHECK(took <= 3000ms);  // DESIGN.md: a revoked user's sessions end within 3 s
    CHECK(wait_until([&] { return processes_of(m.uid).empty(); }, 3000ms));
    // The other member's session goes on.
    CHECK_FALSE(other->wait_channel_closed(300ms));
    CHECK_FALSE(processes_of(bystander.uid).empty());
}
