// End to end: the second factor over SSH (publickey, then keyboard-interactive:pam asking
// pam_portal.so, which asks the daemon). Wrong and replayed codes are refused, five wrong
// codes lock the member for [tfa] lockout (3 s here), and with Enforce 2FA a member without
// 2FA is refused with a message that reaches the client.
#include <catch2/catch.hpp>

#include <thread>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

namespace {

LoginResult login_with(World& w, const Member& m, const std::string& code) {
    return w.login(m.unix_name, m.key, [code]() -> std::optional<std::string> { return code; });
}

}  // namespace

TEST_CASE("a wrong code and a replayed code are refused", "[e2e][tfa]") {
    World w("tfa-replay");
    Member m = w.add_member("rita@example.com", "manager");
    w.enrol_tfa(m);
    REQUIRE(wait_until([&] { return w.probe_key(m.unix_name, m.key) == "partial"; }, 5000ms));

    auto wrong = login_with(w, m, w.wrong_code(m));
    INFO("wrong: " << wrong.transcript() << "\n" << w.diagnostics());
    CHECK_FALSE(wrong.ok());
    CHECK(wrong.code_prompts == 1);
    CHECK(wrong.said_contains("Invalid verification code"));

    // The code confirmed at enrolment is spent already.
    auto enrolment_code = login_with(w, m, w.spent_code(m));
    INFO("enrolment code again: " << enrolment_code.transcript());
    CHECK_FALSE(enrolment_code.ok());

    auto good = w.login(m);
    INFO("good: " << good.transcript() << "\n" << w.diagnostics());
    REQUIRE(good.ok());

    auto replay = login_with(w, m, w.spent_code(m));
    INFO("replay: " << replay.transcript() << "\n" << w.diagnostics());
    CHECK_FALSE(replay.ok());
    CHECK(replay.code_prompts == 1);
}

TEST_CASE("five wrong codes lock the member and the lock lifts after the lockout", "[e2e][tfa]") {
    WorldOptions opts;
    opts.tfa_max_failures = 5;
    opts.tfa_failure_window = 300;
    opts.tfa_lockout = 3;
    World w("tfa-lock", opts);
    Member m = w.add_member("lena@example.com", "manager");
    w.enrol_tfa(m);
    Member bystander = w.add_member("bert@example.com", "manager");
    w.enrol_tfa(bystander);
    REQUIRE(wait_until([&] { return w.probe_key(m.unix_name, m.key) == "partial"; }, 5000ms));

    for (int i = 1; i <= 5; ++i) {
        auto r = login_with(w, m, w.wrong_code(m));
        INFO("wrong code #" << i << ": " << r.transcript());
        REQUIRE_FALSE(r.ok());
        REQUIRE(r.code_prompts == 1);
    }
    const auto locked_at = Clock::now();

    auto sixth = login_with(w, m, w.wrong_code(m));
    INFO("6th wrong code: " << sixth.transcript() << "\n" << w.diagnostics());
    CHECK_FALSE(sixth.ok());
    CHECK(sixth.said_contains("Too many wrong verification codes"));

    // Locked: even the right code is refused (and not spent: it works after the lock).
    const std::string good = w.next_code(m);
    m.last_step -= 1;  // not accepted; next_code() hands it out again below
    auto right_but_locked = login_with(w, m, good);
    INFO("right code while locked: " << right_but_locked.transcript());
    CHECK_FALSE(right_but_locked.ok());
    CHECK(right_but_locked.said_contains("Too many wrong verification codes"));

    // Someone else is not affected by that lock.
    auto other = w.login(bystander);
    INFO("bystander: " << other.transcript());
    CHECK(other.ok());

    // The lock lifts after [tfa] lockout (3 s): poll with the key alone, then log in once.
    std::this_thread::sleep_until(locked_at + std::chrono::seconds(opts.tfa_lockout) - 500ms);
    LoginResult after;
    const bool lifted = wait_until(
        [&] {
            const std::int64_t saved = m.last_step;
            after = w.login(m);
            if (!after.ok()) m.last_step = saved;  // refused: the code was not spent
            return after.ok();
        },
        std::chrono::seconds(opts.tfa_lockout + 3), 300ms);
    INFO("after the lockout: " << after.transcript() << "\n" << w.diagnostics());
    CHECK(lifted);
    CHECK(Clock::now() - locked_at >= std::chrono::seconds(opts.tfa_lockout) - 1s);
}

TEST_CASE("Enforce 2FA: a member without 2FA is refused and told why", "[e2e][tfa]") {
    World w("tfa-enforce");
    Member owner = w.add_member("erin@example.com", "owner");
    w.enrol_tfa(owner);
    Member plain = w.add_member("nick@example.com", "manager");
    REQUIRE(login_eventually(w, plain).ok());  // allowed before Enforce 2FA

    w.set_enforce_2fa(true);
    const std::string message = "requires two-factor authentication";

    auto r = w.login(plain);
    INFO("libssh: " << r.transcript() << "\n" << w.diagnostics());
    CHECK_FALSE(r.ok());
    CHECK(r.said_contains(message));  // banner (PAM account) or keyboard-interactive text

    auto ssh = w.openssh(plain.unix_name, plain.key, "id");
    INFO("ssh: " << ssh.out);
    CHECK(ssh.status == 255);
    CHECK(contains(ssh.out, message));

    // The owner (with 2FA) still gets in.
    auto ok = w.login(owner);
    INFO("owner: " << ok.transcript());
    CHECK(ok.ok());

    // Enrolling lets the member back in (with a code).
    w.enrol_tfa(plain);
    auto enrolled = login_eventually(w, plain);
    INFO("after enrolling: " << enrolled.transcript() << "\n" << w.diagnostics());
    CHECK(enrolled.ok());
    CHECK(enrolled.code_prompts == 1);
}

TEST_CASE("an sshd that does not route 2FA members through the code step cannot let a key alone in",
          "[e2e][tfa]") {
    WorldOptions opts;
    opts.sshd_without_2fa_match = true;
    World w("tfa-no-match", opts);
    Member plain = w.add_member("paula@example.com", "manager");
    Member m = w.add_member("tom@example.com", "manager");
    REQUIRE(login_eventually(w, plain).ok());  // keys work in this sshd
    REQUIRE(login_eventually(w, m).ok());      // tom, before enrolling: key alone

    w.enrol_tfa(m);
    // The key alone now gets past sshd's publickey step, and pam_portal.so's account step
    // refuses it: no code was given in this login.
    LoginResult key_only;
    const bool refused = wait_until(
        [&] {
            key_only = w.login(m.unix_name, m.key, nullptr);
            return !key_only.ok();
        },
        5000ms);
    INFO("key only: " << key_only.transcript() << "\n" << w.diagnostics());
    REQUIRE(refused);
    CHECK(key_only.publickey != "partial");  // sshd itself took the key as enough
    CHECK(key_only.said_contains("the key alone is not enough"));

    // The code without a key first: refused before any prompt, the code is never asked.
    LoginOptions o;
    o.user = m.unix_name;
    o.key = m.key;
    o.skip_publickey = true;
    o.code = [&]() -> std::optional<std::string> { return w.next_code(m); };
    auto code_only = w.client()->login(o);
    INFO("code only: " << code_only.transcript() << "\n" << w.diagnostics());
    CHECK_FALSE(code_only.ok());
    CHECK(code_only.code_prompts == 0);

    // Members without 2FA are not affected.
    auto again = w.login(plain);
    INFO("without 2FA: " << again.transcript());
    CHECK(again.ok());
}
