#include "shared/ipc/login_rules.h"

#include <algorithm>

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

bool listed(const std::vector<std::string>& networks, std::string_view rhost) {
    const auto ip = parse_ip(rhost);
    return ip && std::any_of(networks.begin(), networks.end(), [&](const std::string& n) { return network_contains(n, *ip); });
}

}  // namespace

LoginDecision check_account(const LoginState& state, std::string_view user, const LoginPolicy& policy,
                            const StateSource& source, std::optional<std::string_view> rhost) {
    const LoginMember* m = state.find(user);
    // Unknown names and names the daemon did not publish (they belong to a local or reserved
    // account) are not ours: local users are never locked out by portal-keyd.
    if (!m) return deny(nullptr, reason::not_portal_user);
    if (!m->published) return deny(nullptr, reason::not_published);

    if (source.expired) return deny(m, reason::state_expired);
    switch (m->status) {
        case MemberStatus::invited: return deny(m, reason::invited);
        case MemberStatus::deactivated: return deny(m, reason::deactivated);
        case MemberStatus::active: break;
    }
    const auto& roles = policy.login_roles;
    if (std::find(roles.begin(), roles.end(), m->role) == roles.end()) return deny(m, reason::role_not_allowed);
    if (rhost && state.ssh_ip_allowlist && !listed(*state.ssh_ip_allowlist, *rhost)) return deny(m, reason::ip_not_allowed);
    if (state.enforce_2fa && !m->tfa_enabled) return deny(m, reason::tfa_enrolment_required);
    // Without the daemon, the portal-2fa group (from its userdb provider) is gone too, so sshd
    // would not even ask for a code: refuse instead of letting a key alone in.
    if (m->tfa_enabled && source.fallback) return deny(m, reason::tfa_unavailable);

    LoginDecision d;
    d.portal_user = true;
    d.allow = true;
    d.reason = reason::allowed;
    d.tfa_required = m->tfa_enabled;
    d.uid = m->uid;
    return d;
}

}  // namespace portal::ipc
