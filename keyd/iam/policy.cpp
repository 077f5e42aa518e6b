#include "keyd/iam/policy.h"

#include "keyd/iam/errors.h"

namespace portal::iam::policy {
namespace {

bool owner_only(Action a) {
    return a == Action::update_account || a == Action::manage_users || a == Action::manage_any_keys;
}

bool allowed_without_tfa(Action a) { return a == Action::read_own_profile || a == Action::enrol_own_tfa; }

bool counts_as_active_owner(const Membership& m) {
    return m.role == Role::owner && m.status == MemberStatus::active;
}

}  // namespace

void require(const Caller& caller, Action action) {
    if (caller.is_system()) return;  // root administers the machine: owner-level everywhere
    if (!caller.membership || caller.membership->status != MemberStatus::active)
        throw ApiError::forbidden("your membership of this account is not active");
    if (caller.account.enforce_2fa && !caller.has_tfa() && !allowed_without_tfa(action))
        throw ApiError::forbidden("this account enforces two-factor authentication: enrol 2FA first (portalctl tfa enable)");
    if (owner_only(action) && caller.role != Role::owner)
        throw ApiError::forbidden("only an owner of the account may do this");
}

void check_membership_change(const Caller& caller, const MembershipChange& change) {
    const Membership& before = change.before;
    const bool was_owner = counts_as_active_owner(before);
    const bool stays_owner = change.after && counts_as_active_owner(*change.after);
    const bool is_self = !caller.is_system() && caller.principal.user && caller.principal.user_id() == before.user_id;

    if (!caller.is_system() && before.role == Role::owner && !is_self && change.after &&
        (change.after->role != before.role || change.after->status != before.status))
        throw ApiError::forbidden("owners cannot change the role or status of another owner");
    if (!caller.is_system() && before.role == Role::owner && !is_self && !change.after)
        throw ApiError::forbidden("owners cannot remove another owner");

    if (was_owner && !stays_owner && change.active_owners_before <= 1) {
        const char* field = !change.after ? "id" : change.after->role != Role::owner ? "role" : "status";
        throw ApiError::unprocessable(field, "the account must keep at least one active owner");
    }
}

}  // namespace portal::iam::policy
