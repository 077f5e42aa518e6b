// End to end: a member's first SSH login lands in a home directory pam_portal.so made from
// the skeleton (owned by the member, its mode HOME_MODE from /etc/login.defs), and a home that is already
// there is left exactly as it was.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

namespace {

WorldOptions home_world_options() {
    WorldOptions o;
    o.login_defs_lines = {"UMASK 027", "HOME_MODE 0750"};
    o.skel_files = {{".profile", "# skeleton profile\n"}, {"README.portal", "welcome to this server\n"}};
    return o;
}

}  // namespace

TEST_CASE("a member's first SSH login lands in a fresh home directory made from the skeleton",
          "[e2e][login][home]") {
    World w("home", home_world_options());
    Member m = w.add_member("hana@example.com", "manager");
    const std::string home = "/home/" + m.unix_name;
    struct stat st {};
    REQUIRE(::lstat(home.c_str(), &st) != 0);  // nothing made before the first login

    auto r = login_eventually(w, m);
    INFO(r.transcript() << "\n" << w.diagnostics());
    REQUIRE(r.ok());
    CHECK_FALSE(contains(r.transcript(), "Could not chdir"));
    auto c = w.client();
    REQUIRE(c->login({m.unix_name, m.key, {}}).ok());
    auto pwd = c->exec("pwd; cat README.portal; stat -c '%u:%g %a' . .profile README.portal");
    INFO("exec: " << pwd.out << pwd.err);
    CHECK(pwd.exit_status == 0);
    const std::string owner = std::to_string(m.uid) + ":" + std::to_string(m.uid);
    // The directory's mode is HOME_MODE; the files keep the skeleton's (as pam_mkhomedir).
    CHECK(pwd.out == home + "\nwelcome to this server\n" + owner + " 750\n" + owner + " 644\n" + owner + " 644\n");

    // Made once: what the member changes stays, and the next login does not copy again.
    REQUIRE(c->exec("rm README.portal && chmod 0700 .").exit_status == 0);
    auto again = w.client();
    REQUIRE(again->login({m.unix_name, m.key, {}}).ok());
    auto after = again->exec("ls -A; stat -c '%a' .");
    INFO("exec: " << after.out << after.err);
    CHECK(after.out == ".profile\n700\n");

    // Removed, the member keeps no access but their home stays, and `portalctl homes` tells
    // the sysadmin whose it was no longer.
    auto homes = [&](bool orphaned_only) {
        std::vector<std::string> argv{PORTALCTL_BIN, "--socket", w.api_socket().string(), "--json", "homes"};
        if (orphaned_only) argv.push_back("--orphaned");
        const auto out = run(argv);
        INFO("portalctl homes: " << out.out);
        REQUIRE(out.status == 0);
        return nlohmann::json::parse(out.out);
    };
    const auto in_use = homes(false);
    REQUIRE(in_use.size() == 1);
    CHECK(in_use[0] == nlohmann::json{{"path", home}, {"uid", m.uid}, {"owner", m.unix_name}, {"orphaned", false}});
    CHECK(homes(true).empty());
    w.remove_member(m);
    REQUIRE(wait_until([&] { return !lookup_user(m.unix_name); }, 5000ms));
    CHECK(::access((home + "/.profile").c_str(), F_OK) == 0);
    CHECK(homes(true) == nlohmann::json::parse(R"([{"path":")" + home + R"(","uid":)" + std::to_string(m.uid) +
                                               R"(,"owner":null,"orphaned":true}])"));
}

TEST_CASE("a home directory that already exists is never touched, and local users get none made",
          "[e2e][login][home]") {
    WorldOptions o = home_world_options();
    o.extra_local_users = {"carol"};
    World w("home-kept", o);
    Member m = w.add_member("kai@example.com", "manager");
    const std::string home = "/home/" + m.unix_name;
    REQUIRE(::mkdir(home.c_str(), 0711) == 0);
    write_file(home + "/mine", "kept\n", 0600);
    REQUIRE(::chown(home.c_str(), 0, 0) == 0);  // even one the member does not own

    auto r = login_eventually(w, m);
    INFO(r.transcript() << "\n" << w.diagnostics());
    REQUIRE(r.ok());
    struct stat st {};
    REQUIRE(::stat(home.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0711);
    CHECK(st.st_uid == 0);
    CHECK(::access((home + "/README.portal").c_str(), F_OK) != 0);
    CHECK(::access((home + "/.profile").c_str(), F_OK) != 0);
    CHECK(read_file(home + "/mine") == "kept\n");

    // A local user whose home is gone logs in without one being made for them: not ours.
    const auto carol_key = w.make_key("carol");
    write_file(w.dir() / "keys" / "carol.keys", read_file(carol_key.string() + ".pub"), 0644);
    std::filesystem::remove_all("/home/carol");
    auto c = w.client();
    auto local = c->login({"carol", carol_key, {}});
    INFO("carol: " << local.transcript());
    REQUIRE(local.ok());
    CHECK(c->exec("id -u").exit_status == 0);
    CHECK(::access("/home/carol", F_OK) != 0);
}
