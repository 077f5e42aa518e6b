// The account's role rules (PORTAL.md §1), in one place. Every check throws
// ApiError(403 or 422) with the reason; handlers and services never re-implement them.
#pragma once
#include <optional>

#include "keyd/iam/caller.h"

namespace portal::iam::policy {

enum class Action {
    read_account,
    update_account,       // name, enforce_2fa: owner only
    read_users,
    manage_users,         // add, remove, re-role, (de)activate, reset 2FA: owner only
    read_own_profile,
    manage_own_profile,
    enrol_own_tfa,
    read_keys,
    manage_own_keys,
    manage_any_keys,      // keys of other users: owner only
};

// Throws 403 if `caller` may not perform `action` in its account. This is also where
// Enforce 2FA bites: a member without 2FA may only read their profile and enrol.
void require(const Caller& caller, Action action);

// A change to a membership: role/status before and after (nullopt after = removal).
struct MembershipChange {
    Membership before;
    std::optional<Membership> after;
    int active_owners_before = 0;  // in the account, including `before` if it is one
};

// Owner rules: at least one active owner remains; owners cannot re-role or deactivate
// another owner (the system principal can); self-demotion only with another active owner.
void check_membership_change(const Caller& caller, const MembershipChange& change);

}  // namespace portal::iam::policy
