#include "keyd/iam/guard.h"

#include <algorithm>
#include <array>

#include "keyd/iam/errors.h"

namespace portal::iam {
namespace {

// Whose rules decide.
enum class Scope {
    self,     // the asker's own things: profile, invitations, creating an account
    account,  // the asker's role in the selected account
    host,     // an enrolled host's own account (its host token), or root: the IAM feed
    anyone,   // proven by a secret in the request itself (an enrolment token, a password)
    server,   // this machine's own administration: root on its local socket, nobody else
    portal,   // decided by the portal, with the caller's own credential; here: a caller this
              // server knows (root, or a member of the account it follows)
    about_self,  // about one person (the subject): root on the socket for anyone, a person only
                 // about themself, nobody else
};

// Who may see or touch another member's person-bound items (SSH keys) in the account.
enum class Others {
    none,         // the operation has no such items
    owner_sees,   // listing/reading: owners see everyone's, others only their own (404 otherwise)
    owner_only,   // changing: owners may; a manager gets 404 (it cannot see them)
    owner_may_add // adding for someone else: owners may; a manager gets 403
};

struct Rule {
    Operation op;
    Scope scope;
    bool needs_user;        // root has no profile, 2FA or invitations of its own
    bool needs_active;      // self scope: refused without an active membership anywhere
    bool owner_only;        // account scope: the caller's role must be owner
    bool without_tfa;       // allowed to a member Enforce 2FA still waits for (enrolment)
    bool tfa_everywhere;    // refused while Enforce 2FA bites in any of the asker's accounts
    bool user_global;       // the subject's global data: themself, root, or owner of all their accounts
    bool person_bound;      // another owner's name, keys, 2FA: root's to change
    Others others;
    bool reads;             // changes nothing: what a read_only API token may do
    bool no_api_token;      // not with an API token at all (a token must not mint tokens)
};

//                       op                            scope          user   active owner  no-2fa all-2fa global person others        reads  no-token
constexpr std::array kRules{
    Rule{Operation::get_account,        Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::update_account,     Scope::account, false, false, true,  false, false, false, false, Others::none, false, false},
    Rule{Operation::list_accounts,      Scope::self,    false, true,  false, false, false, false, false, Others::none, true , false},
    Rule{Operation::create_account,     Scope::self,    false, true,  false, false, true,  false, false, Others::none, false, false},
    Rule{Operation::list_members,       Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::get_member,         Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::add_member,         Scope::account, false, false, true,  false, false, false, false, Others::none, false, false},
    Rule{Operation::change_membership,  Scope::account, false, false, true,  false, false, false, false, Others::none, false, false},
    Rule{Operation::remove_member,      Scope::account, false, false, true,  false, false, false, false, Others::none, false, false},
    Rule{Operation::rename_user,        Scope::account, false, false, true,  false, false, true,  true,  Others::none, false, false},
    Rule{Operation::reset_user_tfa,     Scope::account, false, false, true,  false, false, true,  true,  Others::none, false, false},
    Rule{Operation::get_profile,        Scope::self,    true,  true,  false, false, false, false, false, Others::none, true , false},
    Rule{Operation::update_profile,     Scope::self,    true,  true,  false, false, false, false, false, Others::none, false, false},
    Rule{Operation::enrol_tfa,          Scope::account, true,  false, false, true,  false, false, false, Others::none, false, false},
    Rule{Operation::disable_tfa,        Scope::account, true,  false, false, true,  false, false, false, Others::none, false, false},
    Rule{Operation::list_invitations,   Scope::self,    true,  false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::answer_invitation,  Scope::self,    true,  false, false, false, false, false, false, Others::none, false, false},
    Rule{Operation::list_keys,          Scope::account, false, false, false, false, false, false, false, Others::owner_sees, true , false},
    Rule{Operation::get_key,            Scope::account, false, false, false, false, false, false, false, Others::owner_sees, true , false},
    Rule{Operation::add_key,            Scope::account, false, false, false, false, false, false, true,  Others::owner_may_add, false, false},
    Rule{Operation::update_key,         Scope::account, false, false, false, false, false, false, true,  Others::owner_only, false, false},
    Rule{Operation::delete_key,         Scope::account, false, false, false, false, false, false, true,  Others::owner_only, false, false},
    Rule{Operation::get_server_status,  Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::join_portal,        Scope::server,  false, false, false, false, false, false, false, Others::none, false, true },
    Rule{Operation::explain_login,      Scope::about_self, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::list_api_tokens,    Scope::self,    true,  false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::create_api_token,   Scope::self,    true,  true,  false, false, true,  false, false, Others::none, false, true },
    Rule{Operation::delete_api_token,   Scope::self,    true,  false, false, false, false, false, false, Others::none, false, false},
    Rule{Operation::sign_in,            Scope::anyone,  false, false, false, false, false, false, false, Others::none, false, false},
    Rule{Operation::sign_out,           Scope::self,    true,  false, false, false, false, false, false, Others::none, false, false},
    Rule{Operation::set_password,       Scope::self,    true,  true,  false, false, false, false, false, Others::none, false, true },
    Rule{Operation::list_hosts,         Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::get_host,           Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::create_host_enrolment, Scope::account, false, false, true, false, false, false, false, Others::none, false, false},
    Rule{Operation::delete_host,        Scope::account, false, false, true,  false, false, false, false, Others::none, false, false},
    Rule{Operation::register_host,      Scope::anyone,  false, false, false, false, false, false, false, Others::none, false, false},
    Rule{Operation::list_logins,        Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::get_ip_allowlist,   Scope::account, false, false, true,  false, false, false, false, Others::none, true , false},
    Rule{Operation::change_ip_allowlist, Scope::account, false, false, true, false, false, false, false, Others::none, false, false},
    Rule{Operation::list_contacts,      Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::get_contact,        Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::change_contacts,    Scope::account, false, false, true,  false, false, false, false, Others::none, false, false},
    Rule{Operation::list_tickets,       Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::get_ticket,         Scope::account, false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::open_ticket,        Scope::account, false, false, false, false, false, false, false, Others::none, false, false},
    Rule{Operation::write_ticket,       Scope::account, false, false, false, false, false, false, false, Others::none, false, false},
    Rule{Operation::get_support_access, Scope::account, false, false, true,  false, false, false, false, Others::none, true , false},
    Rule{Operation::change_support_access, Scope::account, false, false, true, false, false, false, false, Others::none, false, false},
    Rule{Operation::list_support_staff, Scope::server,  false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::manage_support_staff, Scope::server, false, false, false, false, false, false, false, Others::none, false, true },
    Rule{Operation::list_notifications, Scope::account, false, false, true,  false, false, false, false, Others::none, true , false},
    Rule{Operation::read_iam_feed,      Scope::host,    false, false, false, false, false, false, false, Others::none, true , false},
    Rule{Operation::verify_tfa_for_host, Scope::host,   false, false, false, false, false, false, false, Others::none, false, false},
    Rule{Operation::report_login_events, Scope::host,   false, false, false, false, false, false, false, Others::none, false, false},
    Rule{Operation::forward_to_portal,  Scope::portal,  false, false, false, false, false, false, false, Others::none, false, false},
};

// One row per operation, in the enum's order: a new operation without a rule does not compile.
constexpr bool rules_in_operation_order() {
    for (std::size_t i = 0; i < kRules.size(); ++i)
        if (static_cast<std::size_t>(kRules[i].op) != i) return false;
    return true;
}
static_assert(kRules.size() == static_cast<std::size_t>(Operation::count_), "every Operation needs a rule");
static_assert(rules_in_operation_order(), "kRules must list the operations in the enum's order");

const Rule& rule_for(Operation op) { return kRules.at(static_cast<std::size_t>(op)); }

bool is_self(const Principal& p, const Subject* s) { return s && p.user && p.user_id() == s->user_id; }

// A member refused only because Enforce 2FA waits for their enrolment.
bool blocked_by_enforce_2fa(const Principal& p, const Account& a) {
    return a.enforce_2fa && !(p.user && p.user->tfa_enabled);
}

// The memberships that make a user "belong to" an account for user-global rules: the ones
// they accepted (active or deactivated). An invitation gives no rights and no veto. A user
// who only has invitations belongs to those accounts, so someone is still answerable.
std::vector<const AccountMembership*> belongs_to(const Subject& s) {
    std::vector<const AccountMembership*> out;
    for (const auto& m : s.memberships)
        if (m.status != MemberStatus::invited) out.push_back(&m);
    if (out.empty())
        for (const auto& m : s.memberships) out.push_back(&m);
    return out;
}

bool active_owner_of(const Principal& p, const std::string& account_id) {
    return std::any_of(p.memberships.begin(), p.memberships.end(), [&](const AccountMembership& m) {
        return m.account.id == account_id && m.role == Role::owner && m.status == MemberStatus::active;
    });
}

std::string allowlist_refusal(const Principal& p) {
    return "this account's IP allowlist does not list your address (" + p.remote_address +
           "): its sessions work only from the listed networks";
}

void check_account_scope(const Rule& rule, const Caller& c) {
    if (!c.address_admitted) throw ApiError::forbidden(allowlist_refusal(c.principal));
    if (!c.membership || c.membership->status != MemberStatus::active) {
        const bool invited = c.membership && c.membership->status == MemberStatus::invited;
        throw ApiError::forbidden(invited ? "you are invited to this account: accept the invitation first "
                                            "(portalctl invitations accept)"
                                          : "your membership of this account is not active");
    }
    if (blocked_by_enforce_2fa(c.principal, c.account) && !rule.without_tfa)
        throw ApiError::forbidden("this account enforces two-factor authentication: enrol 2FA first (portalctl tfa enable)");
    if (rule.owner_only && c.role != Role::owner) throw ApiError::forbidden("only an owner of the account may do this");
}

void check_self_scope(const Rule& rule, const Principal& p) {
    if (rule.needs_active && !has_active_membership(p))
        throw ApiError::forbidden("you have no active membership in any account (deactivated or only invited)");
    // A session acts on the user's own things only from where one of their accounts admits it
    // (ending itself is always allowed).
    if (p.credential == Credential::session && rule.op != Operation::sign_out &&
        std::none_of(p.memberships.begin(), p.memberships.end(), [](const AccountMembership& m) {
            return m.status == MemberStatus::active && m.address_admitted;
        }))
        throw ApiError::forbidden("no account of yours lists your address (" + p.remote_address +
                                  ") in its IP allowlist: sessions work only from the listed networks");
    if (rule.tfa_everywhere)
        for (const auto& m : p.memberships)
            if (m.status == MemberStatus::active && blocked_by_enforce_2fa(p, m.account))
                throw ApiError::forbidden("account " + m.account.id +
                                          " enforces two-factor authentication: enrol 2FA first (portalctl tfa enable)");
}

// User-global data (name, email, 2FA; passwords and tokens later) belongs to the person,
// not to one account: an owner of one account must not change it for the others.
void check_user_global(const Principal& p, const Subject& s) {
    for (const AccountMembership* m : belongs_to(s))
        if (!active_owner_of(p, m->account.id))
            throw ApiError::forbidden(
                "this changes the user's global record (name, 2FA) in every account they belong to: only the user, "
                "root, or an active owner of each of those accounts may do it");
}

void check_person_bound(const Rule& rule, const Subject& s) {
    bool owner = s.role_here == Role::owner;
    if (rule.user_global)
        for (const AccountMembership* m : belongs_to(s)) owner = owner || m->role == Role::owner;
    if (owner)
        throw ApiError::forbidden("another owner's name, SSH keys and 2FA are theirs: only they or root may change them");
}

void check_others(const Rule& rule, const Caller& c, const Subject* s) {
    if (rule.others == Others::none || !s || is_self(c.principal, s) || c.role == Role::owner) return;
    if (rule.others == Others::owner_may_add) throw ApiError::forbidden("only an owner may manage other members' SSH keys");
    throw ApiError::not_found("SSH key not found");  // managers must not learn that it exists
}

// What the credential itself allows, before any rule about the person: a read_only token
// only reads, and no API token creates API tokens (a leaked token must not be able to
// outlive its own deletion).
void check_credential(const Rule& rule, const Principal& p) {
    // A host token is the host, not a person: its account's feed and nothing else. Whatever
    // reaches a person's operation without a person is refused here too.
    if (p.kind == Principal::Kind::host && rule.scope != Scope::host)
        throw ApiError::forbidden("a host token may only read its account's IAM feed");
    if (p.kind == Principal::Kind::anonymous && rule.scope != Scope::anyone)
        throw ApiError::unauthorized("authentication required: send Authorization: Bearer <token>");
    if (rule.scope == Scope::host && !p.is_system() && p.kind != Principal::Kind::host)
        throw ApiError::forbidden("only an enrolled host (with its host token) reads the IAM feed");
    const bool token = p.credential == Credential::api_token_full || p.credential == Credential::api_token_read_only;
    if (p.credential == Credential::api_token_read_only && !rule.reads)
        throw ApiError::forbidden("this API token is read_only: it may only read");
    if (token && rule.no_api_token)
        throw ApiError::forbidden(rule.op == Operation::set_password
                                      ? "API tokens cannot set passwords: sign in, or use portalctl on a server"
                                      : "API tokens cannot create API tokens: create them with portalctl on a server");
}

}  // namespace

bool sees_person_record(const Caller& c, const Membership& m) {
    if (c.is_system() || m.status != MemberStatus::invited) return true;
    return c.principal.user && c.principal.user_id() == m.user_id;
}

AccountUser shown_to(const Caller& c, AccountUser au) {
    if (sees_person_record(c, au.membership)) return au;
    User only;
    only.id = std::move(au.user.id);
    only.email = std::move(au.user.email);
    au.user = std::move(only);
    return au;
}

std::vector<std::pair<Account, Role>> active_accounts(const Principal& p) {
    std::vector<std::pair<Account, Role>> out;
    for (const auto& m : p.memberships)
        if (m.status == MemberStatus::active) out.emplace_back(m.account, m.role);
    return out;
}

bool has_active_membership(const Principal& p) {
    return std::any_of(p.memberships.begin(), p.memberships.end(),
                       [](const AccountMembership& m) { return m.status == MemberStatus::active; });
}

Grant authorize(const Asker& who, Operation op, const SubjectLoader& load_subject) {
    const Rule& rule = rule_for(op);
    const Principal& p = who.principal;
    check_credential(rule, p);
    if (rule.needs_user && (p.is_system() || !p.user))
        throw ApiError::forbidden("the system principal (root) has no profile, 2FA or invitations");
    if (rule.scope == Scope::host || rule.scope == Scope::anyone) return {};  // decided above / by the request's secret
    if (rule.scope == Scope::portal) {
        if (p.credential != Credential::local_peer || (!p.is_system() && !p.user))
            throw ApiError::forbidden("only root or a member of the account, on this server's socket, may reach the portal through it");
        return {};
    }
    if (rule.scope == Scope::server) {
        if (!p.is_system()) throw ApiError::forbidden("only root on this server's socket may do this (sudo portalctl ...)");
        return {};
    }
    if (rule.scope == Scope::about_self) {
        if (!p.is_system()) check_self_scope(rule, p);
        const Subject s = load_subject ? load_subject() : Subject{};
        // An unknown subject (no user id) is nobody's self: 403 too, so the answer says
        // nothing about whether the name exists.
        if (!p.is_system() && (s.user_id.empty() || !is_self(p, &s)))
            throw ApiError::forbidden("you may ask only about yourself; root may ask about anyone (sudo portalctl ...)");
        return {};
    }
    if (!p.is_system()) {
        if (rule.scope == Scope::account) {
            if (!who.in_account) throw ApiError{500, "INTERNAL_ERROR", "account-scoped operation without an account"};
            check_account_scope(rule, *who.in_account);
        } else {
            check_self_scope(rule, p);
        }
    }
    std::optional<Subject> subject;
    if (load_subject) subject = load_subject();
    if (p.is_system()) return {};  // root administers the machine: everything, everywhere

    if (subject && !is_self(p, &*subject)) {
        if (who.in_account) check_others(rule, *who.in_account, &*subject);
        if (rule.user_global) check_user_global(p, *subject);
        if (rule.person_bound) check_person_bound(rule, *subject);
    }
    Grant g;
    if (rule.others == Others::owner_sees && who.in_account && who.in_account->role != Role::owner) g.only_user_id = p.user_id();
    return g;
}

void check_membership_change(const Caller& caller, const MembershipChange& change) {
    const Membership& before = change.before;
    auto counts_as_active_owner = [](const Membership& m) { return m.role == Role::owner && m.status == MemberStatus::active; };
    const bool was_owner = counts_as_active_owner(before);
    const bool stays_owner = change.after && counts_as_active_owner(*change.after);
    const bool is_self = !caller.is_system() && caller.principal.user && caller.principal.user_id() == before.user_id;

    // Support memberships come and go with the account's support access and the staff list,
    // for root too: changed here, they would silently disagree with the grant.
    if (before.role == Role::support)
        throw ApiError::conflict("id", "a support membership follows the account's support access: "
                                       "end it with portalctl support revoke");
    if (change.after && change.after->role == Role::support)
        throw ApiError::unprocessable("role", "support memberships come only from support access");

    if (!caller.is_system() && before.role == Role::owner && !is_self && change.after &&
        (change.after->role != before.role || change.after->status != before.status))
        throw ApiError::forbidden("owners cannot change the role or status of another owner");
    if (!caller.is_system() && before.role == Role::owner && !is_self && !change.after)
        throw ApiError::forbidden("owners cannot remove another owner");
    if (!caller.is_system() && change.after && before.status == MemberStatus::invited &&
        change.after->status != MemberStatus::invited)
        throw ApiError::forbidden("only the invited user accepts an invitation (portalctl invitations accept)");

    if (was_owner && !stays_owner && change.active_owners_before <= 1) {
        const char* field = !change.after ? "id" : change.after->role != Role::owner ? "role" : "status";
        throw ApiError::unprocessable(field, "the account must keep at least one active owner");
    }
}

}  // namespace portal::iam
