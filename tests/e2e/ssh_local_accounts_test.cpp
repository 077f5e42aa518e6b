// End to end: a local account that appears after a member was published, under the member's
// name or uid, without useradd and without any API write (vipw, configuration management),
// unpublishes that member within seconds: the daemon watches /etc/passwd and /etc/group.
// /etc is an overlay in the test's private mount namespace, so the files are really replaced
// by rename and written in place while the machine's own stay untouched.
#include <sys/mount.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;
namespace fs = std::filesystem;

namespace {

// An overlay over /etc (lower: the real one, upper: a temp dir), unmounted at the end.
class EtcOverlay {
public:
    EtcOverlay() {
        std::string templ = (fs::path(E2E_TMP) / "etc-overlay-XXXXXX").string();
        fs::create_directories(E2E_TMP);
        if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
        dir_ = templ;
        fs::create_directories(dir_ / "upper");
        fs::create_directories(dir_ / "work");
        const std::string options = "lowerdir=/etc,upperdir=" + (dir_ / "upper").string() + ",workdir=" +
                                    (dir_ / "work").string();
        if (::mount("overlay", "/etc", "overlay", 0, options.c_str()) != 0)
            throw std::runtime_error("mount overlay on /etc: " + std::string(std::strerror(errno)));
    }
    ~EtcOverlay() {
        ::umount2("/etc", MNT_DETACH);
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    EtcOverlay(const EtcOverlay&) = delete;
    EtcOverlay& operator=(const EtcOverlay&) = delete;

private:
    fs::path dir_;
};

// As vipw does: a new file beside it, renamed over it.
void replace_by_rename(const fs::path& file, const std::string& content) {
    const fs::path tmp = file.string() + ".e2e-edit";
    write_file(tmp, content, 0644);
    fs::rename(tmp, file);
}

bool has_dropin(const Member& m) { return fs::exists(fs::path("/run/userdb") / (m.unix_name + ".user")); }

}  // namespace

TEST_CASE("a local account appearing under a member's name or uid unpublishes the member within seconds",
          "[e2e][userdb][collision]") {
    EtcOverlay etc;
    WorldOptions options;
    options.start = false;
    World w("local-accounts", options);
    w.start_daemon();
    w.create_account();
    w.start_sshd();
    Member named = w.add_member("nina@example.com", "manager");
    Member numbered = w.add_member("uma@example.com", "manager");
    Member grouped = w.add_member("gus@example.com", "manager");
    Member bystander = w.add_member("bea@example.com", "manager");
    for (Member* m : {&named, &numbered, &grouped, &bystander}) {
        auto r = login_eventually(w, *m);
        INFO(m->unix_name << ": " << r.transcript() << "\n" << w.diagnostics());
        REQUIRE(r.ok());
        // A member who opened a session here gets drop-ins (written right after the session opened).
        REQUIRE(wait_until([&] { return has_dropin(*m); }, 5000ms));
    }
    const std::string passwd = read_file("/etc/passwd");
    const std::string group = read_file("/etc/group");
    REQUIRE(!passwd.empty());

    SECTION("name in /etc/passwd, replaced by rename") {
        replace_by_rename("/etc/passwd", passwd + named.unix_name + ":x:4321:4321::/nonexistent:/usr/sbin/nologin\n");
        INFO(w.diagnostics());
        CHECK(wait_until([&] { return !has_dropin(named); }, 5000ms));
        // sshd now sees the local account, and the login socket gives no portal key for it.
        auto local = lookup_user(named.unix_name);
        REQUIRE(local);
        CHECK(local->uid == 4321u);
        CHECK(w.probe_key(named.unix_name, named.key) == "denied");
        // The sysadmin sees why (portalctl status reads this).
        auto status = w.api().get("/v1/server");
        INFO(status.json.dump());
        REQUIRE(status.status == 200);
        const auto& collisions = status.json.at("collisions");
        REQUIRE(collisions.size() == 1);
        CHECK(collisions[0].at("unix_name") == named.unix_name);
        CHECK(collisions[0].at("uid") == named.uid);
        CHECK(!collisions[0].at("reason").get<std::string>().empty());

        // Gone again: the member comes back, still without an API write.
        replace_by_rename("/etc/passwd", passwd);
        CHECK(wait_until([&] { return has_dropin(named); }, 5000ms));
        CHECK(login_eventually(w, named).ok());
        CHECK(w.api().get("/v1/server").json.at("collisions").empty());
    }
    SECTION("uid in /etc/passwd, replaced by rename") {
        replace_by_rename("/etc/passwd",
                          passwd + "e2elocal:x:" + std::to_string(numbered.uid) + ":4321::/nonexistent:/usr/sbin/nologin\n");
        INFO(w.diagnostics());
        CHECK(wait_until([&] { return !has_dropin(numbered); }, 5000ms));
        CHECK(w.probe_key(numbered.unix_name, numbered.key) == "denied");
    }
    SECTION("group name in /etc/group, written in place") {
        {
            std::ofstream out("/etc/group", std::ios::app);
            out << grouped.unix_name << ":x:4322:\n";
        }
        INFO(w.diagnostics());
        CHECK(wait_until([&] { return !has_dropin(grouped); }, 5000ms));
        CHECK(w.probe_key(grouped.unix_name, grouped.key) == "denied");
        // Back as it was, in place too.
        write_file("/etc/group", group, 0644);
        CHECK(wait_until([&] { return has_dropin(grouped); }, 5000ms));
    }
    CHECK(w.daemon_log().find("local accounts changed") != std::string::npos);
    // Nobody else is affected.
    CHECK(has_dropin(bystander));
    CHECK(w.login(bystander).ok());
}
