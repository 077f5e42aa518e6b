#include "keyd/revoke/revocation.h"

#include <unordered_map>

#include "shared/ipc/login_rules.h"

namespace portal::revoke {
namespace {

// The state's header with just one member (or none), for the single-member rule check.
ipc::LoginState only(const ipc::LoginState& s, const ipc::LoginMember* m) {
    ipc::LoginState v = ipc::header_of(s);
    if (m) v.members.push_back(*m);
    return v;
}

bool revocable(std::string_view reason) {
    return reason == ipc::reason::not_portal_user || reason == ipc::reason::not_member ||
           reason == ipc::reason::deactivated || reason == ipc::reason::role_not_allowed ||
           reason == ipc::reason::invited || reason == ipc::reason::access_expired;
}

}  // namespace

std::vector<Revocation> losing_access(const ipc::LoginState& before, const ipc::LoginState& after) {
    std::unordered_map<std::string_view, const ipc::LoginMember*> now;
    now.reserve(after.members.size());
    for (const auto& m : after.members) now.emplace(m.user_id, &m);

    std::vector<Revocation> out;
    for (const auto& m : before.members) {
        // A support member refused before only by the end of their window is counted as allowed
        // then: the state served at that second may still show them active, and the change that
        // follows (the authority's deactivation) must still end their sessions.
        const auto was = ipc::check_account(only(before, &m), m.unix_name, ipc::policy_of(before));
        if (!was.allow && was.reason != ipc::reason::access_expired) continue;
        auto it = now.find(m.user_id);
        const ipc::LoginMember* a = it == now.end() ? nullptr : it->second;
        // Removed and re-added under another name or uid is still "removed" for the old one.
        if (a && (a->uid != m.uid || a->unix_name != m.unix_name)) a = nullptr;
        const ipc::LoginDecision d = ipc::check_account(only(after, a), m.unix_name, ipc::policy_of(after));
        if (d.allow || !revocable(d.reason)) continue;
        out.push_back(Revocation{m.unix_name, m.user_id, m.uid, d.reason});
    }
    return out;
}

}  // namespace portal::revoke
