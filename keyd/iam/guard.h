// The one guard: every IAM operation asks authorize() first, before it reads or changes
// anything it was asked about. The rules are one table (guard.cpp), one row per operation;
// handlers and services never decide who may do what.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "keyd/iam/caller.h"

namespace portal::iam {

enum class Operation {
    // accounts
    get_account,
    update_account,
    list_accounts,
    create_account,
    // members of the caller's account
    list_members,
    get_member,
    add_member,
    change_membership,  // role, status
    remove_member,
    rename_user,        // a user-global attribute, through the account's user resource
    reset_user_tfa,     // user-global
    // the caller's own profile, 2FA and invitations
    get_profile,
    update_profile,
    enrol_tfa,          // enable, confirm
    disable_tfa,
    list_invitations,
    answer_invitation,  // accept, decline
    // SSH keys in the caller's account
    list_keys,
    get_key,
    add_key,
    update_key,
    delete_key,
    // this server: what it serves and which members it could not publish
    get_server_status,
    join_portal,        // make this server an agent of a remote portal (root on the socket only)
    explain_login,      // why a member may or may not log in here: root about anyone, a person about themself
    // the caller's own API tokens (user-global)
    list_api_tokens,
    create_api_token,
    delete_api_token,
    // portal sign-in (user-global): sessions made from a password, and the password itself
    sign_in,            // proven by the email and password in the request, not by the caller
    sign_out,           // the session the request was made with
    set_password,
    // servers that follow the account (agents)
    list_hosts,
    get_host,
    create_host_enrolment,
    delete_host,
    register_host,      // proven by the enrolment token in the request, not by the caller
    list_logins,        // the account's login history
    // the account's IP allowlist
    get_ip_allowlist,
    change_ip_allowlist,
    // the account's contacts: members read, owners change
    list_contacts,
    get_contact,
    change_contacts,    // create, update, delete
    // the account's support tickets: any active member
    list_tickets,
    get_ticket,
    open_ticket,
    write_ticket,       // a message, closing
    // the account's support access: owners only
    get_support_access,
    change_support_access,
    // who the provider's support staff are: this server's own administration (root on the socket)
    list_support_staff,
    manage_support_staff,  // mark, unmark
    // the account's security notifications: owners read them
    list_notifications,
    // the IAM feed: for an enrolled host of the account (and root)
    read_iam_feed,
    verify_tfa_for_host,
    report_login_events,
    // agent mode: a request this server does not answer itself, carried to the portal with the
    // caller's own credential (the portal authenticates and authorizes it)
    forward_to_portal,
    count_,  // not an operation: the number of them (guard.cpp checks its table against it)
};

// The person whose data an operation touches (a member, a key's owner).
struct Subject {
    std::string user_id;
    std::optional<Role> role_here;               // their role in the caller's account
    std::vector<AccountMembership> memberships;  // every one of theirs: user-global rules need them
};

// What the caller was allowed. For listings of person-bound items (keys): when set, the
// caller sees only this user's items.
struct Grant {
    std::optional<std::string> only_user_id;
};

// Who is asking: the principal, and for account-scoped operations the caller in that account.
struct Asker {
    const Principal& principal;
    const Caller* in_account = nullptr;
};

// Loads the subject once the asker passed the rules that do not depend on it, so that a
// caller who may not do `op` at all is refused before anything about the subject is read
// (it may throw 404 when there is no such subject).
using SubjectLoader = std::function<Subject()>;

// Throws ApiError 403 with the reason (404 where a manager must not learn that another
// member's key exists) unless `who` may perform `op` on the subject `load_subject` returns.
Grant authorize(const Asker& who, Operation op, const SubjectLoader& load_subject = {});

// A change to a membership: role/status before and after (nullopt after = removal).
struct MembershipChange {
    Membership before;
    std::optional<Membership> after;
    int active_owners_before = 0;  // in the account, including `before` if it is one
};

// Owner rules for change_membership/remove_member, once authorize() allowed the operation:
// at least one active owner remains; owners cannot re-role, deactivate or remove another
// owner (root can); self-demotion only with another active owner; an invitation is
// accepted only by the invited user (root may activate it directly).
void check_membership_change(const Caller& caller, const MembershipChange& change);

// Whether the caller sees a member's person record (name, unix identity, 2FA, last login) or
// only the membership: an invitation shows what an invitation needs until it is accepted
// (root and the member themself always see it).
bool sees_person_record(const Caller& c, const Membership& m);
// `au` as the caller may see it: without the person record, only id and email remain (an
// empty unix_name marks it for the view; every real user has one).
AccountUser shown_to(const Caller& c, AccountUser au);

// The principal's memberships that count: active ones.
bool has_active_membership(const Principal& p);
// The accounts the principal acts in (active memberships) with their role there: what
// /v1/accounts and the profile list (invitations are listed apart).
std::vector<std::pair<Account, Role>> active_accounts(const Principal& p);

}  // namespace portal::iam
