// End to end: who logs in over SSH, through the real daemon, sshd, the keys helper and
// pam_portal.so. Roles become groups (owner -> sudo), 2FA members give a code after the key,
// local users keep their own keys, and portal names never shadow local ones.
#include <catch2/catch.hpp>

#include <algorithm>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

TEST_CASE("owner with key and TOTP logs in with sudo and a manager with key logs in without", "[e2e][login]") {
    World w("login");
    Member owner = w.add_member("olivia@example.com", "owner");
    w.enrol_tfa(owner);
    Member manager = w.add_member("mark@example.com", "manager");

    SECTION("owner: key, then the verification code; id lists sudo") {
        REQUIRE(wait_until([&] { return w.probe_key(owner.unix_name, owner.key) == "partial"; }, 5000ms));
        auto c = w.client();
        LoginOptions o;
        o.user = owner.unix_name;
        o.key = owner.key;
        o.code = [&]() -> std::optional<std::string> { return w.next_code(owner); };
        auto r = c->login(o);
        INFO(r.transcript() << "\n" << w.diagnostics());
        REQUIRE(r.ok());
        CHECK(r.publickey == "partial");  // the key alone is not enough for a 2FA member
        CHECK(r.code_prompts == 1);
        CHECK(r.said_contains("Verification code"));
        auto id = c->exec("id");
        INFO("id: " << id.out);
        CHECK(id.exit_status == 0);
        CHECK(contains(id.out, "uid=" + std::to_string(owner.uid) + "(" + owner.unix_name + ")"));
        CHECK(contains(id.out, "(sudo)"));
        CHECK(contains(id.out, "(portal-2fa)"));
    }

    SECTION("manager: key only; id does not list sudo") {
        auto r = login_eventually(w, manager);
        INFO(r.transcript() << "\n" << w.diagnostics());
        REQUIRE(r.ok());
        CHECK(r.publickey == "success");
        CHECK(r.code_prompts == 0);
        auto c = w.client();
        REQUIRE(c->login({manager.unix_name, manager.key, {}}).ok());
        auto id = c->exec("id");
        INFO("id: " << id.out);
        CHECK(id.exit_status == 0);
        CHECK(contains(id.out, "uid=" + std::to_string(manager.uid) + "(" + manager.unix_name + ")"));
        CHECK_FALSE(contains(id.out, "sudo"));
        CHECK_FALSE(contains(id.out, "portal-2fa"));
    }

    SECTION("a key of another member does not open the account") {
        REQUIRE(login_eventually(w, manager).ok());
        auto r = w.login(manager.unix_name, owner.key);
        INFO(r.transcript());
        CHECK_FALSE(r.ok());
    }
}

TEST_CASE("OpenSSH client: key then the code through SSH_ASKPASS", "[e2e][login][openssh]") {
    World w("openssh");
    Member owner = w.add_member("oscar@example.com", "owner");
    w.enrol_tfa(owner);
    Member manager = w.add_member("mia@example.com", "manager");
    REQUIRE(wait_until([&] { return w.probe_key(owner.unix_name, owner.key) == "partial"; }, 5000ms));
    REQUIRE(login_eventually(w, manager).ok());

    auto ok = w.openssh(owner.unix_name, owner.key, "id", w.next_code(owner));
    INFO("ssh: " << ok.out << "\naskpass prompts: " << read_file(w.dir() / "askpass.prompts") << "\n"
                 << w.diagnostics());
    CHECK(ok.status == 0);
    CHECK(contains(ok.out, "(sudo)"));
    CHECK(contains(read_file(w.dir() / "askpass.prompts"), "Verification code"));

    auto wrong = w.openssh(owner.unix_name, owner.key, "id", w.wrong_code(owner));
    INFO("ssh (wrong code): " << wrong.out);
    CHECK(wrong.status == 255);
    CHECK_FALSE(contains(wrong.out, "uid="));

    auto plain = w.openssh(manager.unix_name, manager.key, "id");
    INFO("ssh (manager): " << plain.out);
    CHECK(plain.status == 0);
    CHECK(contains(plain.out, "uid=" + std::to_string(manager.uid)));
    CHECK_FALSE(contains(plain.out, "sudo"));
}

TEST_CASE("root logs in with its own authorized_keys also while portal-keyd is stopped", "[e2e][login][local]") {
    World w("root");
    // A portal user whose email says root gets another name, and its key does not open root.
    Member fake_root = w.add_member("root@example.com", "owner");
    CHECK(fake_root.unix_name != "root");
    REQUIRE(login_eventually(w, fake_root).ok());
    auto as_root = w.login("root", fake_root.key);
    INFO(as_root.transcript());
    CHECK_FALSE(as_root.ok());

    auto check_root = [&](const char* when) {
        auto c = w.client();
        auto r = c->login({"root", w.root_key(), {}});
        INFO(when << ": " << r.transcript() << "\n" << w.diagnostics());
        REQUIRE(r.ok());
        CHECK(r.publickey == "success");
        auto id = c->exec("id -u");
        CHECK(id.out == "0\n");
    };
    check_root("daemon running");
    CHECK(w.stop_daemon() == 0);
    check_root("daemon stopped");
    auto gone = w.login(fake_root.unix_name, fake_root.key);  // 2FA-less owner, fallback state
    INFO(gone.transcript());
    // (the fallback rules are tested in ssh_fallback_test.cpp; here only root matters)
    w.start_daemon();
    check_root("daemon restarted");
}

TEST_CASE("a portal user named like a local user is not published and cannot log in", "[e2e][login][local]") {
    WorldOptions opts;
    opts.extra_local_users = {"carol"};  // exists in this namespace's /etc/passwd only
    World w("collision", opts);
    const auto local = lookup_user("carol");
    REQUIRE(local);
    REQUIRE(local->uid == 4201);

    Member carol = w.add_member("carol@example.com", "manager");
    Member other = w.add_member("dave@example.com", "manager");
    REQUIRE(login_eventually(w, other).ok());  // publication has happened

    INFO("portal user's unix_name: " << carol.unix_name << "\n" << w.diagnostics());
    // Whatever name the portal picked, "carol" is still the local account.
    const auto after = lookup_user("carol");
    REQUIRE(after);
    CHECK(after->uid == 4201);
    auto r = w.login("carol", carol.key);
    INFO(r.transcript());
    CHECK_FALSE(r.ok());
    if (carol.unix_name == "carol") {
        // Same name: not published at all (no drop-in, no keys, nothing in the login state).
        CHECK_FALSE(std::filesystem::exists("/run/userdb/carol.user"));
        const auto entry = nlohmann::json::parse(read_file(w.state_dir() / "carol"));
        CHECK_FALSE(entry.at("member").at("published").get<bool>());
    } else {
        // A different name: that one is the portal user's, and works.
        auto own = login_eventually(w, carol);
        INFO(own.transcript());
        CHECK(own.ok());
    }
}
