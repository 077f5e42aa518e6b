// End to end: the daemon stopped. The keys helper and pam_portal.so fall back to the login
// state file: a member without 2FA still logs in within [login] fallback_grace, a 2FA member
// is refused (codes are verified by the daemon only), after the grace no portal user gets in,
// and root is never affected.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <thread>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

namespace {

std::chrono::system_clock::time_point mtime_of(const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return {};
    return std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec) +
                                                 std::chrono::nanoseconds(st.st_mtim.tv_nsec));
}

}  // namespace

TEST_CASE("daemon stopped: logins go on from the state file within the grace and then stop", "[e2e][fallback]") {
    WorldOptions opts;
    opts.fallback_grace = 4;
    World w("fallback", opts);
    Member plain = w.add_member("fred@example.com", "manager");
    Member tfa = w.add_member("gina@example.com", "owner");
    w.enrol_tfa(tfa);
    REQUIRE(login_eventually(w, plain).ok());
    REQUIRE(wait_until([&] { return w.probe_key(tfa.unix_name, tfa.key) == "partial"; }, 5000ms));

    REQUIRE(w.stop_daemon() == 0);
    const auto stamped = mtime_of(w.state_file());
    const auto stale_at = stamped + std::chrono::seconds(opts.fallback_grace);
    INFO("state file age at stop: "
         << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() - stamped).count()
         << " ms");
    REQUIRE(std::chrono::system_clock::now() + 1500ms < stale_at);  // time left to test within the grace

    // Within the grace: the member without 2FA logs in; the identity is still there (drop-ins).
    CHECK(lookup_user(plain.unix_name));
    auto c = w.client();
    auto in = c->login({plain.unix_name, plain.key, {}});
    INFO("within the grace: " << in.transcript() << "\n" << w.diagnostics());
    CHECK(in.ok());
    if (in.ok()) CHECK(c->exec("id -un").out == plain.unix_name + "\n");
    c->disconnect();

    // The 2FA member is refused: nobody can check the code.
    auto coded = w.login(tfa);
    INFO("2FA member within the grace: " << coded.transcript());
    CHECK_FALSE(coded.ok());
    if (!coded.ok()) tfa.last_step -= 1;  // not spent

    // root: untouched.
    CHECK(w.login("root", w.root_key()).ok());

    // After the grace nobody from the portal gets in.
    std::this_thread::sleep_until(stale_at);
    LoginResult late;
    const bool refused = wait_until(
        [&] {
            late = w.login(plain);
            return !late.ok();
        },
        3000ms, 200ms);
    INFO("after the grace: " << late.transcript());
    CHECK(refused);
    CHECK(std::chrono::system_clock::now() >= stale_at);
    CHECK(w.probe_key(tfa.unix_name, tfa.key) != "partial");
    CHECK(w.login("root", w.root_key()).ok());

    // The daemon back: logins resume.
    w.start_daemon();
    CHECK(login_eventually(w, plain).ok());
}
