#include <catch2/catch.hpp>

#include <ctime>

#include "shared/ipc/login_protocol.h"
#include "shared/ipc/login_rules.h"

namespace login_rules_test {

using namespace portal;
using namespace portal::ipc;

namespace {

LoginMember member(std::string name, Role role, MemberStatus status, bool tfa, bool published = true) {
    LoginMember m;
    m.unix_name = std::move(name);
    m.uid = 200000;
    m.user_id = "usr_" + m.unix_name;
    m.role = role;
    m.status = status;
    m.tfa_enabled = tfa;
    m.published = published;
    m.keys = {{"ssh-ed25519 AAAA1 " + m.unix_name + "@a", "SHA256:" + m.unix_name + "1"},
              {"ssh-ed25519 AAAA2 " + m.unix_name + "@b", "SHA256:" + m.unix_name + "2"}};
    return m;
}

// Support staff's grant ends in a day.
LoginMember support_member(std::string name) {
    LoginMember m = member(std::move(name), Role::support, MemberStatus::active, false);
    m.access_until = static_cast<std::int64_t>(::time(nullptr)) + 86400;
    return m;
}

LoginState state(bool enforce_2fa = false) {
    LoginState s;
    s.enforce_2fa = enforce_2fa;
    s.members = {
        member("owner1", Role::owner, MemberStatus::active, false),
        member("owner2fa", Role::owner, MemberStatus::active, true),
        member("manager1", Role::manager, MemberStatus::active, false),
        support_member("support1"),
        member("invited1", Role::owner, MemberStatus::invited, false),
        member("gone1", Role::manager, MemberStatus::deactivated, true),
        member("root", Role::owner, MemberStatus::active, false, /*published=*/false),
    };
    return s;
}

}  // namespace

TEST_CASE("login_rules: check_account decision table", "[login][rules]") {
    struct Case {
        const char* user;
        bool enforce_2fa;
        StateSource source;
        bool portal_user, allow, tfa_required;
        std::string_view reason;
    };
    const StateSource online{}, fallback{true, false}, expired{true, true};
    const Case cases[] = {
        {"nobody", false, online, false, false, false, reason::not_portal_user},
        {"nobody", false, expired, false, false, false, reason::not_portal_user},
        {"root", false, online, false, false, false, reason::not_published},
        {"root", false, expired, false, false, false, reason::not_published},
        {"owner1", false, online, true, true, false, reason::allowed},
        {"manager1", false, online, true, true, false, reason::allowed},
        {"owner2fa", false, online, true, true, true, reason::allowed},
        {"support1", false, online, true, false, false, reason::role_not_allowed},
        {"invited1", false, online, true, false, false, reason::invited},
        {"gone1", false, online, true, false, false, reason::deactivated},
        {"owner1", true, online, true, false, false, reason::tfa_enrolment_required},
        {"owner2fa", true, online, true, true, true, reason::allowed},
        // fallback: same rules, but a 2FA member cannot be verified without the daemon
        {"owner1", false, fallback, true, true, false, reason::allowed},
        {"owner2fa", false, fallback, true, false, false, reason::tfa_unavailable},
        {"owner1", true, fallback, true, false, false, reason::tfa_enrolment_required},
        {"gone1", false, fallback, true, false, false, reason::deactivated},
        {"owner1", false, expired, true, false, false, reason::state_expired},
        {"gone1", false, expired, true, false, false, reason::state_expired},
    };
    for (const auto& c : cases) {
        INFO(c.user << " enforce_2fa=" << c.enforce_2fa << " fallback=" << c.source.fallback
                    << " expired=" << c.source.expired);
        const LoginDecision d = check_account(state(c.enforce_2fa), c.user, LoginPolicy{}, c.source);
        CHECK(d.portal_user == c.portal_user);
        CHECK(d.allow == c.allow);
        CHECK(d.tfa_required == c.tfa_required);
        CHECK(d.reason == c.reason);
        // A refused portal user always gets a message; allowed and non-portal users none.
        CHECK(d.message.empty() == (d.allow || !d.portal_user));
    }
}

TEST_CASE("login_rules: login roles come from the policy", "[login][rules]") {
    LoginPolicy support_too{{Role::owner, Role::manager, Role::support}};
    CHECK(check_account(state(), "support1", support_too).allow);
    LoginPolicy owners_only{{Role::owner}};
    CHECK(check_account(state(), "manager1", owners_only).reason == reason::role_not_allowed);
    CHECK(check_account(state(), "owner1", owners_only).allow);

    LoginState s = state();
    s.login_roles = {Role::support};
    CHECK(check_account(s, "support1", policy_of(s)).allow);
    CHECK_FALSE(check_account(s, "owner1", policy_of(s)).allow);
}

TEST_CASE("login_rules: support staff log in only within their grant, also from the fallback file",
          "[login][rules][support]") {
    const LoginPolicy support_too{{Role::owner, Role::manager, Role::support}};
    LoginState s = state();
    const std::int64_t until = static_cast<std::int64_t>(::time(nullptr)) + 3600;
    const StateSource before{false, false, until - 1}, at{false, false, until}, fallback_after{true, false, until + 60};
    // No known end (a state from before grants had one): refused, never open-ended.
    for (auto& m : s.members)
        if (m.unix_name == "support1") m.access_until.reset();
    auto d = check_account(s, "support1", support_too, before);
    CHECK_FALSE(d.allow);
    CHECK(d.portal_user);
    CHECK(d.reason == reason::access_expired);
    CHECK_FALSE(d.message.empty());

    for (auto& m : s.members)
        if (m.unix_name == "support1") m.access_until = until;
    CHECK(check_account(s, "support1", support_too, before).allow);
    CHECK(check_account(s, "support1", support_too, at).reason == reason::access_expired);
    CHECK(check_account(s, "support1", support_too, fallback_after).reason == reason::access_expired);
    // Keys follow the same decision: none after the end.
    CHECK(authorized_keys_for(s, "support1", std::nullopt, support_too).keys.size() == 2);
    // The other roles have no window.
    CHECK(check_account(s, "owner1", support_too, fallback_after).allow);
    // The role rule comes first: a server that does not let support in says so.
    CHECK(check_account(s, "support1", LoginPolicy{}, at).reason == reason::role_not_allowed);
}

TEST_CASE("login_rules: message_for covers every refusal code", "[login][rules]") {
    for (auto code : {reason::not_member, reason::invited, reason::deactivated, reason::role_not_allowed,
                      reason::tfa_enrolment_required, reason::state_expired, reason::tfa_unavailable,
                      reason::ip_not_allowed, reason::access_expired})
        CHECK_FALSE(message_for(code).empty());
    CHECK(message_for(reason::allowed).empty());
    CHECK(message_for("whatever").empty());
}

TEST_CASE("login_rules: authorized_keys_for follows check_account", "[login][rules]") {
    const LoginState s = state();
    auto r = authorized_keys_for(s, "owner1", std::nullopt, LoginPolicy{});
    CHECK(r.portal_user);
    CHECK(r.keys == std::vector<std::string>{"ssh-ed25519 AAAA1 owner1@a", "ssh-ed25519 AAAA2 owner1@b"});

    r = authorized_keys_for(s, "owner1", std::string("SHA256:owner12"), LoginPolicy{});
    CHECK(r.keys == std::vector<std::string>{"ssh-ed25519 AAAA2 owner1@b"});
    r = authorized_keys_for(s, "owner1", std::string("SHA256:unknown"), LoginPolicy{});
    CHECK(r.portal_user);
    CHECK(r.keys.empty());

    r = authorized_keys_for(s, "gone1", std::nullopt, LoginPolicy{});
    CHECK(r.portal_user);
    CHECK(r.keys.empty());
    r = authorized_keys_for(s, "root", std::nullopt, LoginPolicy{});
    CHECK_FALSE(r.portal_user);
    CHECK(r.keys.empty());
    // online a 2FA member gets keys (the code follows); in fallback none
    CHECK(authorized_keys_for(s, "owner2fa", std::nullopt, LoginPolicy{}).keys.size() == 2);
    CHECK(authorized_keys_for(s, "owner2fa", std::nullopt, LoginPolicy{}, {true, false}).keys.empty());
    CHECK(authorized_keys_for(s, "owner1", std::nullopt, LoginPolicy{}, {true, false}).keys.size() == 2);
    CHECK(authorized_keys_for(s, "owner1", std::nullopt, LoginPolicy{}, {true, true}).keys.empty());

    // Enforce 2FA: a member without 2FA gets keys online (the second factor, forced by the
    // 2FA group, refuses them with the message to enrol) but none in fallback.
    const LoginState enforced = state(/*enforce_2fa=*/true);
    CHECK(authorized_keys_for(enforced, "manager1", std::nullopt, LoginPolicy{}).keys.size() == 2);
    CHECK(authorized_keys_for(enforced, "manager1", std::nullopt, LoginPolicy{}, {true, false}).keys.empty());
    CHECK(authorized_keys_for(enforced, "gone1", std::nullopt, LoginPolicy{}).keys.empty());
}

TEST_CASE("login rules: the IP allowlist, where applied to SSH, judges the connection's address", "[login_rules][allowlist]") {
    LoginState s = state();
    const LoginPolicy policy = policy_of(s);
    // Not applied: any address.
    CHECK(check_account(s, "owner1", policy, {}, std::string_view("198.51.100.7")).allow);

    s.ssh_ip_allowlist = std::vector<std::string>{"192.0.2.0/24", "2001:db8::/32"};
    CHECK(check_account(s, "owner1", policy, {}, std::string_view("192.0.2.200")).allow);
    CHECK(check_account(s, "owner1", policy, {}, std::string_view("::ffff:192.0.2.1")).allow);
    CHECK(check_account(s, "owner1", policy, {}, std::string_view("2001:db8::9")).allow);
    for (std::string_view elsewhere : {"198.51.100.7", "", "host.example.com", "2001:db9::1"}) {
        INFO(elsewhere);
        const auto d = check_account(s, "owner1", policy, {}, elsewhere);
        CHECK_FALSE(d.allow);
        CHECK(d.portal_user);
        CHECK(d.reason == reason::ip_not_allowed);
        CHECK(d.message == "Your address is not in the account's IP allowlist.");
    }
    // Where the decision is not about one connection (keys, publication), no address: the
    // connection's own account check applies it.
    CHECK(check_account(s, "owner1", policy).allow);
    // Not ours stays not ours; an empty list admits nobody.
    CHECK(check_account(s, "localuser", policy, {}, std::string_view("198.51.100.7")).reason == reason::not_portal_user);
    s.ssh_ip_allowlist = std::vector<std::string>{};
    CHECK(check_account(s, "owner1", policy, {}, std::string_view("192.0.2.1")).reason == reason::ip_not_allowed);
}

}  // namespace login_rules_test
