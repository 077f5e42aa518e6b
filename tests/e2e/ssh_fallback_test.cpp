// End to end: the daemon stopped. The keys helper and pam_portal.so fall back to the login
// state directory (the header and the member's own entry): a member without 2FA still logs in within [login] fallback_grace, a 2FA member
// is refused (codes are verified by the daemon only), after the grace no portal user gets in,
// and root is never affected. Identities outlive the daemon only for members who logged in
// on this machine (their drop-ins).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <thread>

#include <nlohmann/json.hpp>

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

TEST_CASE("daemon stopped: logins go on from the state directory within the grace and then stop", "[e2e][fallback]") {
    WorldOptions opts;
    opts.fallback_grace = 4;
    World w("fallback", opts);
    Member plain = w.add_member("fred@example.com", "manager");
    Member tfa = w.add_member("gina@example.com", "owner");
    w.enrol_tfa(tfa);
    Member unseen = w.add_member("ursula@example.com", "manager");  // never logs in here
    REQUIRE(login_eventually(w, plain).ok());
    // Drop-ins (identities that outlive the daemon) only for members who logged in here; the
    // provider answers for everyone while the daemon runs.
    const auto dropin_of = [](const Member& m) { return std::filesystem::path("/run/userdb") / (m.unix_name + ".user"); };
    REQUIRE(wait_until([&] { return std::filesystem::exists(dropin_of(plain)); }, 5000ms));
    CHECK(lookup_user(unseen.unix_name));
    CHECK_FALSE(std::filesystem::exists(dropin_of(unseen)));
    REQUIRE(wait_until([&] { return w.probe_key(tfa.unix_name, tfa.key) == "partial"; }, 5000ms));

    REQUIRE(w.stop_daemon() == 0);
    const auto stamped = mtime_of(w.state_header());
    const auto stale_at = stamped + std::chrono::seconds(opts.fallback_grace);
    INFO("state header age at stop: "
         << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() - stamped).count()
         << " ms");
    REQUIRE(std::chrono::system_clock::now() + 1500ms < stale_at);  // time left to test within the grace

    // Within the grace: the member without 2FA logs in; the identity is still there (drop-ins).
    CHECK(lookup_user(plain.unix_name));
    CHECK_FALSE(lookup_user(unseen.unix_name));  // no drop-in: unknown until the daemon is back
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

    // Leftovers while the daemon is down: the single file of older versions, an entry of a
    // member who is none (an older revision's), and the member's own entry as an older
    // revision wrote it (another key, active). The restarted daemon reconciles them away.
    const auto entry_of = [&](const std::string& name) { return w.state_dir() / name; };
    write_file(w.runtime_dir() / "login-state.json", "{\"version\":1}");
    auto stale = nlohmann::json::parse(read_file(entry_of(plain.unix_name)));
    stale["revision"] = 1;
    stale["member"]["unix_name"] = "olduser";
    write_file(entry_of("olduser"), stale.dump());
    stale["member"]["unix_name"] = plain.unix_name;
    stale["member"]["keys"] = nlohmann::json::array({{{"line", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld old"},
                                                      {"fingerprint_sha256", "SHA256:old"}}});
    write_file(entry_of(plain.unix_name), stale.dump());

    // The daemon back: logins resume.
    w.start_daemon();
    CHECK(login_eventually(w, plain).ok());
    CHECK(lookup_user(unseen.unix_name));
    CHECK_FALSE(std::filesystem::exists(w.runtime_dir() / "login-state.json"));
    CHECK_FALSE(std::filesystem::exists(entry_of("olduser")));
    const auto now_entry = nlohmann::json::parse(read_file(entry_of(plain.unix_name)));
    CHECK(now_entry.at("member").at("keys").size() == 1);
    CHECK(now_entry.at("member").at("keys").at(0).at("line") != "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld old");
    CHECK(now_entry.at("revision").get<std::uint64_t>() > 1);

    // On disk as documented: root-owned, the helper's group reads, nobody else.
    struct stat dir_st {}, entry_st {};
    REQUIRE(::stat(w.state_dir().c_str(), &dir_st) == 0);
    REQUIRE(::stat(entry_of(plain.unix_name).c_str(), &entry_st) == 0);
    CHECK(dir_st.st_uid == 0);
    CHECK(entry_st.st_uid == 0);
    CHECK(dir_st.st_gid == entry_st.st_gid);
    CHECK((dir_st.st_mode & 07777) == ((dir_st.st_gid != 0) ? 0750 : 0700));
    CHECK((entry_st.st_mode & 07777) == ((entry_st.st_gid != 0) ? 0640 : 0600));
}
