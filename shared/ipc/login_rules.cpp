#include "shared/ipc/login_rules.h"

#include <algorithm>
#include <ctime>
#include <string>

#include "shared/cidr.h"

namespace portal::ipc {

std::string_view message_for(std::string_view r) {
    if (r == reason::not_member) return "Your portal account is not a member of this server's account.";
    if (r == reason::invited) return "Your portal invitation has not been accepted yet.";
    if (r == reason::deactivated) return "Your portal access to this server has been deactivated.";
    if (r == reason::role_not_allowed) return "Your portal role does not allow logging in to this server.";
    if (r == reason::tfa_enrolment_required)
        return "This account requires two-factor authentication: enrol in the portal, then log in again.";
    if (r == reason::state_expired)
        return "portal-keyd has been unavailable for too long; portal logins are suspended.";
    if (r == reason::tfa_unavailable)
        return "Two-factor authentication is unavailable (portal-keyd is not running); try again later.";
    if (r == reason::ip_not_allowed) return "Your address is not in the account's IP allowlist.";
    if (r == reason::access_expired) return "The account's support access has ended.";
    return {};
}

namespace {

LoginDecision deny(const LoginMember* member, std::string_view code) {
    LoginDecision d;
    d.portal_user = member != nullptr;
    if (member) d.uid = member->uid;
    d.allow = false;
    d.reason = code;
    d.message = message_for(code);
    return d;
}

// The network of `networks` that lists `rhost`, if any.
const std::string* listing_network(const std::vector<std::string>& networks, std::string_view rhost) {
    const auto ip = parse_ip(rhost);
    if (!ip) return nullptr;
    const auto it = std::find_if(networks.begin(), networks.end(), [&](const std::string& n) { return network_contains(n, *ip); });
    return it == networks.end() ? nullptr : &*it;
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out.empty() ? std::string("none") : out;
}

// "2026-12-31T18:00:00Z" (UTC), for the trace.
std::string utc_text(std::int64_t t) {
    const auto tt = static_cast<std::time_t>(t);
    std::tm tm{};
    char buf[32];
    if (::gmtime_r(&tt, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return std::to_string(t);
    return buf;
}

std::string roles_text(const std::vector<Role>& roles) {
    std::string out;
    for (Role r : roles) out += std::string(out.empty() ? "" : ", ") + std::string(to_string(r));
    return out.empty() ? std::string("none") : out;
}

// Applies the rules one by one. Untraced, the first failure stops check_account (the detail
// callables never run); traced, each verdict is recorded and the first failure remembered.
class Judge {
public:
    explicit Judge(std::vector<RuleVerdict>* trace) : trace_(trace) {}
    // True when check_account must return now: the rule failed and nobody traces.
    template <class Detail>
    bool refuses(std::string_view name, bool pass, std::string_view code, Detail&& detail) {
        if (!pass && first_failure_.empty()) first_failure_ = code;
        if (trace_) trace_->push_back(RuleVerdict{name, pass, pass ? std::string_view{} : code, detail()});
        return !pass && !trace_;
    }
    std::string_view first_failure() const { return first_failure_; }

private:
    std::vector<RuleVerdict>* trace_;
    std::string_view first_failure_;
};

}  // namespace

namespace {

// The rules from "member" on, for a member found in `state`.
LoginDecision judge_member(Judge& judge, const LoginState& state, const LoginMember* m, const LoginPolicy& policy,
                           const StateSource& source, std::optional<std::string_view> rhost,
                           std::vector<RuleVerdict>* trace) {
    (void)judge.refuses(rule::member, true, {}, [m] { return "member, uid " + std::to_string(m->uid); });
    if (judge.refuses(rule::published, m->published, reason::not_published, [m] {
            return std::string(m->published ? "published here"
                                            : "not published here: the rules below refuse the member, or a local or "
                                              "reserved account holds the name or uid");
        }))
        return deny(nullptr, reason::not_published);

    if (judge.refuses(rule::state, !source.expired, reason::state_expired, [&source] {
            return std::string(!source.fallback ? "online: portal-keyd's own state"
                               : source.expired ? "fallback file, older than its grace period"
                                                : "fallback file, within its grace period");
        }))
        return deny(m, reason::state_expired);
    const std::string_view status_code = m->status == MemberStatus::invited       ? reason::invited
                                         : m->status == MemberStatus::deactivated ? reason::deactivated
                                                                                  : std::string_view{};
    if (judge.refuses(rule::status, status_code.empty(), status_code,
                      [m] { return "status " + std::string(to_string(m->status)); }))
        return deny(m, status_code);
    const auto& roles = policy.login_roles;
    if (judge.refuses(rule::role, std::find(roles.begin(), roles.end(), m->role) != roles.end(), reason::role_not_allowed,
                      [m, &roles] { return "role " + std::string(to_string(m->role)) + "; allowed: " + roles_text(roles); }))
        return deny(m, reason::role_not_allowed);
    // Support staff only within the account's grant. The authority ends the membership at the
    // expiry; this holds where that change cannot arrive (an agent cut off from its portal,
    // the fallback file). No known end: refused.
    if (trace || m->role == Role::support) {
        const std::int64_t now = source.now != 0 ? source.now : static_cast<std::int64_t>(::time(nullptr));
        const bool windowed = m->role == Role::support;
        const bool pass = !windowed || (m->access_until && now < *m->access_until);
        if (judge.refuses(rule::access_window, pass, reason::access_expired, [&] {
                if (!windowed) return std::string("not support staff: no access window");
                if (!m->access_until) return std::string("support membership with no known end: refused");
                return std::string(now < *m->access_until ? "support access until " : "support access ended at ") +
                       utc_text(*m->access_until);
            }))
            return deny(m, reason::access_expired);
    }
    // Only traced, or applied to a connection, is the address looked at.
    if (trace || (rhost && state.ssh_ip_allowlist)) {
        const std::string* network =
            rhost && state.ssh_ip_allowlist ? listing_network(*state.ssh_ip_allowlist, *rhost) : nullptr;
        const bool pass = !rhost || !state.ssh_ip_allowlist || network;
        if (judge.refuses(rule::ip_allowlist, pass, reason::ip_not_allowed, [&] {
                if (!state.ssh_ip_allowlist) return std::string("not applied to SSH on this server");
                if (!rhost) return "applied; no address given (judged per connection): " + joined(*state.ssh_ip_allowlist);
                if (network) return std::string(*rhost) + " listed by " + *network;
                return std::string(*rhost) + " not listed: " + joined(*state.ssh_ip_allowlist);
            }))
            return deny(m, reason::ip_not_allowed);
    }
    if (judge.refuses(rule::tfa_enrolment, !(state.enforce_2fa && !m->tfa_enabled), reason::tfa_enrolment_required, [&] {
            return std::string(state.enforce_2fa ? "Enforce 2FA on" : "Enforce 2FA off") +
                   (m->tfa_enabled ? "; member's 2FA on" : "; member's 2FA off");
        }))
        return deny(m, reason::tfa_enrolment_required);
    // Without the daemon, the portal-2fa group (from its userdb provider) is gone too, so sshd
    // would not even ask for a code: refuse instead of letting a key alone in.
    if (judge.refuses(rule::tfa_fallback, !(m->tfa_enabled && source.fallback), reason::tfa_unavailable, [&] {
            if (!m->tfa_enabled) return std::string("no code asked (member's 2FA off)");
            return std::string(source.fallback ? "a code is needed, and only portal-keyd verifies codes"
                                               : "a code is asked after the key (portal-keyd verifies it)");
        }))
        return deny(m, reason::tfa_unavailable);

    // Traced: the first failure decides, as it would have returned above.
    if (!judge.first_failure().empty()) return deny(m->published ? m : nullptr, judge.first_failure());
    LoginDecision d;
    d.portal_user = true;
    d.allow = true;
    d.reason = reason::allowed;
    d.tfa_required = m->tfa_enabled;
    d.uid = m->uid;
    return d;
}

}  // namespace

LoginDecision check_account(const LoginState& state, std::string_view user, const LoginPolicy& policy,
                            const StateSource& source, std::optional<std::string_view> rhost,
                            std::vector<RuleVerdict>* trace) {
    Judge judge(trace);
    const LoginMember* m = state.find(user);
    // Unknown names and names the daemon did not publish (they belong to a local or reserved
    // account) are not ours: local users are never locked out by portal-keyd.
    if (!m) {
        (void)judge.refuses(rule::member, false, reason::not_portal_user,
                            [] { return std::string("not a member of the account this server serves"); });
        return deny(nullptr, reason::not_portal_user);
    }
    return judge_member(judge, state, m, policy, source, rhost, trace);
}

LoginDecision check_member(const LoginState& state, const LoginMember& member, const LoginPolicy& policy,
                           const StateSource& source, std::optional<std::string_view> rhost) {
    Judge judge(nullptr);
    return judge_member(judge, state, &member, policy, source, rhost, nullptr);
}

}  // namespace portal::ipc
