// check_account with a trace (portalctl why) decides exactly as without one: over many
// random states, the same decision, and the first failing rule in the trace is the reason.
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "shared/ipc/login_rules.h"

namespace login_rules_trace_test {

using namespace portal;
using namespace portal::ipc;

namespace {

bool same_decision(const LoginDecision& a, const LoginDecision& b) {
    return a.portal_user == b.portal_user && a.allow == b.allow && a.reason == b.reason && a.message == b.message &&
           a.tfa_required == b.tfa_required && a.uid == b.uid;
}

struct TraceWorld {
    LoginState state;
    LoginPolicy policy;
    StateSource source;
    std::optional<std::string> rhost;
    std::string user;
};

TraceWorld random_world(std::mt19937& rng) {
    auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    const Role roles[] = {Role::owner, Role::manager, Role::support};
    const MemberStatus statuses[] = {MemberStatus::active, MemberStatus::invited, MemberStatus::deactivated};
    TraceWorld w;
    LoginMember m;
    m.unix_name = "member1";
    m.uid = 200001;
    m.user_id = "usr_member1";
    m.role = roles[pick(3)];
    m.status = statuses[pick(3)];
    m.tfa_enabled = pick(2) == 1;
    m.published = pick(5) != 0;
    m.keys = {{"ssh-ed25519 AAAA1 member1@a", "SHA256:member1"}};
    // Support staff: no known end, ended, or within the grant (the decision's time is fixed below).
    if (m.role == Role::support && pick(3) != 0) m.access_until = pick(2) == 0 ? 1800000000 - 10 : 1800000000 + 3600;
    w.state.members.push_back(m);
    w.state.enforce_2fa = pick(2) == 1;
    switch (pick(3)) {
        case 0: break;  // the allowlist not applied
        case 1: w.state.ssh_ip_allowlist = std::vector<std::string>{"192.0.2.0/24", "2001:db8::/32"}; break;
        default: w.state.ssh_ip_allowlist = std::vector<std::string>{}; break;
    }
    const char* const hosts[] = {"192.0.2.9", "198.51.100.7", "2001:db8::1", "host.example.com", ""};
    if (const int h = pick(6); h < 5) w.rhost = hosts[h];
    w.policy.login_roles.clear();
    for (Role r : roles)
        if (pick(3) != 0) w.policy.login_roles.push_back(r);
    switch (pick(4)) {
        case 0: w.source = {true, false}; break;
        case 1: w.source = {true, true}; break;
        default: w.source = {}; break;
    }
    w.source.now = 1800000000;
    w.user = pick(8) == 0 ? "stranger" : "member1";
    return w;
}

}  // namespace

TEST_CASE("login_rules: a trace never changes the decision, and its first failure is the reason", "[login_rules][trace]") {
    std::mt19937 rng(20261203);
    int allowed = 0, refused = 0;
    for (int i = 0; i < 5000; ++i) {
        const TraceWorld w = random_world(rng);
        std::optional<std::string_view> rhost;
        if (w.rhost) rhost = *w.rhost;
        const LoginDecision plain = check_account(w.state, w.user, w.policy, w.source, rhost);
        std::vector<RuleVerdict> trace;
        const LoginDecision traced = check_account(w.state, w.user, w.policy, w.source, rhost, &trace);
        INFO("world " << i << " user " << w.user << " reason " << plain.reason);
        REQUIRE(same_decision(plain, traced));
        REQUIRE_FALSE(trace.empty());
        CHECK(trace.front().rule == rule::member);
        if (w.user == "stranger") {
            CHECK(trace.size() == 1);
            CHECK_FALSE(trace.front().pass);
            CHECK(trace.front().reason == plain.reason);
            continue;
        }
        // A member: every rule, in check_account's order, each with a detail.
        const std::vector<std::string_view> order{rule::member, rule::published,
                                                  rule::state, rule::status, rule::role, rule::access_window,
                                                  rule::ip_allowlist,
                                                  rule::tfa_enrolment, rule::tfa_fallback};
        REQUIRE(trace.size() == order.size());
        for (std::size_t k = 0; k < order.size(); ++k) {
            CHECK(trace[k].rule == order[k]);
            CHECK_FALSE(trace[k].detail.empty());
            CHECK(trace[k].pass == trace[k].reason.empty());
        }
        const auto first_failure =
            std::find_if(trace.begin(), trace.end(), [](const RuleVerdict& v) { return !v.pass; });
        if (plain.allow) {
            ++allowed;
            CHECK(first_failure == trace.end());
        } else {
            ++refused;
            REQUIRE(first_failure != trace.end());
            CHECK(first_failure->reason == plain.reason);
        }
    }
    // The generator reaches both outcomes often.
    CHECK(allowed > 100);
    CHECK(refused > 100);
}

TEST_CASE("login_rules: a trace shows every failing rule with what was compared", "[login_rules][trace]") {
    LoginState s;
    LoginMember m;
    m.unix_name = "gone";
    m.uid = 200002;
    m.role = Role::support;
    m.status = MemberStatus::deactivated;
    m.tfa_enabled = false;
    s.members.push_back(m);
    s.enforce_2fa = true;
    s.ssh_ip_allowlist = std::vector<std::string>{"192.0.2.0/24"};
    std::vector<RuleVerdict> trace;
    const auto d = check_account(s, "gone", LoginPolicy{}, {}, std::string_view("198.51.100.7"), &trace);
    CHECK(d.reason == reason::deactivated);
    REQUIRE(trace.size() == 9);
    CHECK(trace[3].detail == "status deactivated");
    CHECK_FALSE(trace[4].pass);
    CHECK(trace[4].reason == reason::role_not_allowed);
    CHECK(trace[4].detail == "role support; allowed: owner, manager");
    CHECK_FALSE(trace[5].pass);
    CHECK(trace[5].reason == reason::access_expired);
    CHECK(trace[5].detail == "support membership with no known end: refused");
    CHECK_FALSE(trace[6].pass);
    CHECK(trace[6].detail == "198.51.100.7 not listed: 192.0.2.0/24");
    CHECK_FALSE(trace[7].pass);
    CHECK(trace[7].detail == "Enforce 2FA on; member's 2FA off");
    CHECK(trace[8].pass);

    trace.clear();
    CHECK(check_account(s, "gone", LoginPolicy{}, {}, std::string_view("192.0.2.77"), &trace).reason == reason::deactivated);
    CHECK(trace[6].pass);
    CHECK(trace[6].detail == "192.0.2.77 listed by 192.0.2.0/24");

    // The window's end, in UTC, either side of it; other roles have none.
    s.members[0].access_until = 1800000000;  // 2027-01-15T08:00:00Z
    trace.clear();
    (void)check_account(s, "gone", LoginPolicy{}, {false, false, 1799999999}, std::nullopt, &trace);
    CHECK(trace[5].pass);
    CHECK(trace[5].detail == "support access until 2027-01-15T08:00:00Z");
    trace.clear();
    (void)check_account(s, "gone", LoginPolicy{}, {false, false, 1800000000}, std::nullopt, &trace);
    CHECK_FALSE(trace[5].pass);
    CHECK(trace[5].detail == "support access ended at 2027-01-15T08:00:00Z");
    s.members[0].role = Role::owner;
    s.members[0].access_until.reset();
    trace.clear();
    (void)check_account(s, "gone", LoginPolicy{}, {}, std::nullopt, &trace);
    CHECK(trace[5].pass);
    CHECK(trace[5].detail == "not support staff: no access window");
}

}  // namespace login_rules_trace_test
