#include "keyd/iam/authority_service.h"

#include <algorithm>

#include "keyd/iam/errors.h"
#include "shared/ssh_key.h"

namespace portal::iam {
namespace {

template <class T>
PageResult<T> slice(std::vector<T> all, const PageRequest& pg) {
    PageResult<T> r;
    r.total = static_cast<std::int64_t>(all.size());
    auto first = std::min<std::int64_t>((pg.page - 1) * pg.per_page, r.total);
    auto last = std::min<std::int64_t>(first + pg.per_page, r.total);
    r.items.assign(std::make_move_iterator(all.begin() + first), std::make_move_iterator(all.begin() + last));
    return r;
}

store::Page to_store_page(const PageRequest& pg) { return {(pg.page - 1) * pg.per_page, pg.per_page}; }

// What the caller may see of a member: without the person record, only id and email remain
// (an empty unix_name marks it for the view; every real user has one).
AccountUser shown_to(const Caller& c, AccountUser au) {
    if (sees_person_record(c, au.membership)) return au;
    User only;
    only.id = std::move(au.user.id);
    only.email = std::move(au.user.email);
    au.user = std::move(only);
    return au;
}

}  // namespace

AuthorityService::AuthorityService(store::Store& store, tfa::TfaService& tfa, std::function<void()> on_change)
    : store_(store), tfa_(tfa), on_change_(std::move(on_change)) {}

void AuthorityService::write(const std::function<void()>& f) {
    try {
        store_.transaction(f);
    } catch (const store::Conflict& e) {
        throw ApiError::conflict(e.field, e.what());
    }
    if (on_change_) on_change_();
}

// ---- callers ---------------------------------------------------------------------------

Principal AuthorityService::principal_for_uid(uid_t uid) {
    Principal p;
    p.uid = uid;
    if (uid == 0) {
        p.kind = Principal::Kind::system;
        return p;
    }
    auto user = store_.users().by_uid(static_cast<std::uint32_t>(uid));
    if (!user) throw ApiError::forbidden("uid " + std::to_string(uid) + " is not a portal user");
    p.user = std::move(user);
    for (auto& ar : store_.accounts().of_user(p.user_id()))
        p.memberships.push_back(AccountMembership{std::move(ar.account), ar.role, ar.status});
    return p;
}

Caller AuthorityService::caller_in(const Principal& p, const std::optional<std::string>& account_id) {
    Caller c;
    c.principal = p;
    if (p.is_system()) {
        std::optional<Account> a;
        if (account_id) {
            a = store_.accounts().get(*account_id);
        } else {
            auto all = store_.accounts().all();
            if (!all.empty()) a = all.front();
        }
        if (!a) throw ApiError::not_found(account_id ? "account not found" : "no account exists yet: create one first");
        c.account = *a;
        c.role = Role::owner;
        return c;
    }
    const auto& mine = p.memberships;
    auto it = mine.end();
    if (account_id) {
        it = std::find_if(mine.begin(), mine.end(), [&](const auto& m) { return m.account.id == *account_id; });
    } else {
        // The default is the oldest account the user is active in (else the oldest: the guard says why not).
        it = std::find_if(mine.begin(), mine.end(), [](const auto& m) { return m.status == MemberStatus::active; });
        if (it == mine.end()) it = mine.begin();
    }
    if (it == mine.end()) throw ApiError::not_found("account not found");
    c.account = it->account;
    c.role = it->role;
    c.membership = store_.memberships().get(c.account.id, p.user_id());
    return c;
}

Subject AuthorityService::subject_of(const std::string& user_id, std::optional<Role> role_here) {
    Subject s;
    s.user_id = user_id;
    s.role_here = role_here;
    for (auto& ar : store_.accounts().of_user(user_id))
        s.memberships.push_back(AccountMembership{std::move(ar.account), ar.role, ar.status});
    return s;
}

// ---- account ---------------------------------------------------------------------------

Account AuthorityService::get_account(const Caller& c) {
    authorize({c.principal, &c}, Operation::get_account);
    return c.account;
}

Account AuthorityService::update_account(const Caller& c, const AccountUpdate& u) {
    authorize({c.principal, &c}, Operation::update_account);
    Account a = c.account;
    if (u.name) a.name = *u.name;
    if (u.enforce_2fa && *u.enforce_2fa != a.enforce_2fa) {
        // Confirmed by typing the account id, as in the portal.
        if (!u.confirm || *u.confirm != a.id)
            throw ApiError::unprocessable("confirm", "changing enforce_2fa needs confirm set to the account id");
        a.enforce_2fa = *u.enforce_2fa;
    }
    write([&] { store_.accounts().update(a); });
    return *store_.accounts().get(a.id);
}

std::vector<std::pair<Account, Role>> AuthorityService::list_accounts(const Principal& p) {
    authorize({p}, Operation::list_accounts);
    std::vector<std::pair<Account, Role>> out;
    if (p.is_system()) {
        for (auto& a : store_.accounts().all()) out.emplace_back(std::move(a), Role::owner);
        return out;
    }
    // Only accounts the user acts in: invitations are listed under /v1/profile/invitations.
    for (const auto& m : p.memberships)
        if (m.status == MemberStatus::active) out.emplace_back(m.account, m.role);
    return out;
}

std::pair<Account, Role> AuthorityService::create_account(const Principal& p, const std::string& name,
                                                          const std::optional<std::string>& owner_user_id) {
    authorize({p}, Operation::create_account);
    std::string owner;
    if (p.is_system()) {
        // root may create an empty account (the first one on a fresh server) or name its owner.
        if (owner_user_id && !store_.users().get(*owner_user_id))
            throw ApiError::unprocessable("owner_user_id", "no such user");
        if (owner_user_id) owner = *owner_user_id;
    } else {
        if (owner_user_id && *owner_user_id != p.user_id())
            throw ApiError::unprocessable("owner_user_id", "you can only create accounts you own");
        owner = p.user_id();
    }
    Account created;
    write([&] {
        created = store_.accounts().create(name);
        if (!owner.empty()) {
            Membership m;
            m.account_id = created.id;
            m.user_id = owner;
            m.role = Role::owner;
            m.status = MemberStatus::active;
            store_.memberships().put(m);
        }
    });
    return {created, Role::owner};
}

// ---- users -----------------------------------------------------------------------------

AccountUser AuthorityService::member_or_404(const Caller& c, const std::string& user_id) {
    auto au = store_.memberships().account_user(c.account.id, user_id);
    if (!au) throw ApiError::not_found("user not found in this account");
    return *au;
}

PageResult<AccountUser> AuthorityService::list_users(const Caller& c, const UserFilter& f, const PageRequest& pg) {
    authorize({c.principal, &c}, Operation::list_members);
    PageResult<AccountUser> r;
    r.items = store_.memberships().list(c.account.id, store::MemberFilter{f.role, f.status, f.search_pattern},
                                   to_store_page(pg), r.total);
    for (auto& au : r.items) au = shown_to(c, std::move(au));
    return r;
}

AccountUser AuthorityService::get_user(const Caller& c, const std::string& id) {
    authorize({c.principal, &c}, Operation::get_member);
    return shown_to(c, member_or_404(c, id));
}

AccountUser AuthorityService::create_user(const Caller& c, const NewUser& u) {
    authorize({c.principal, &c}, Operation::add_member);
    if (u.status == MemberStatus::deactivated)
        throw ApiError::unprocessable("status", "a new member is invited or active");
    std::string user_id;
    write([&] {
        auto existing = store_.users().by_email(u.email);
        User user = existing ? *existing : store_.users().create(u.email, u.name);
        if (store_.memberships().get(c.account.id, user.id)) throw ApiError::conflict("email", "already a member of this account");
        Membership m;
        m.account_id = c.account.id;
        m.user_id = user.id;
        m.role = u.role;
        // A person who already exists joins only by accepting (root provisions directly).
        m.status = existing && !c.is_system() ? MemberStatus::invited : u.status;
        store_.memberships().put(m);
        user_id = user.id;
    });
    return shown_to(c, member_or_404(c, user_id));
}

AccountUser AuthorityService::update_user(const Caller& c, const std::string& id, const UserUpdate& u) {
    write([&] {
        if (u.role || u.status) {
            AccountUser au;
            authorize({c.principal, &c}, Operation::change_membership, [&] {
                au = member_or_404(c, id);
                return subject_of(id, au.membership.role);
            });
            Membership after = au.membership;
            if (u.role) after.role = *u.role;
            if (u.status) {
                if (*u.status == MemberStatus::invited && au.membership.status != MemberStatus::invited)
                    throw ApiError::unprocessable("status", "a member cannot go back to invited");
                after.status = *u.status;
            }
            check_membership_change(c, {au.membership, after, store_.memberships().count_active_owners(c.account.id)});
            store_.memberships().put(after);
        }
        if (u.name) {
            AccountUser au;
            authorize({c.principal, &c}, Operation::rename_user, [&] {
                au = member_or_404(c, id);
                return subject_of(id, au.membership.role);
            });
            au.user.name = *u.name;
            store_.users().update(au.user);
        }
        if (!u.role && !u.status && !u.name) {
            authorize({c.principal, &c}, Operation::get_member);
            member_or_404(c, id);
        }
    });
    return shown_to(c, member_or_404(c, id));
}

void AuthorityService::remove_user(const Caller& c, const std::string& id) {
    write([&] {
        AccountUser au;
        authorize({c.principal, &c}, Operation::remove_member, [&] {
            au = member_or_404(c, id);
            return subject_of(id, au.membership.role);
        });
        check_membership_change(c, {au.membership, std::nullopt, store_.memberships().count_active_owners(c.account.id)});
        store_.memberships().remove(c.account.id, id);  // also deletes the user's keys in this account
    });
}

void AuthorityService::reset_user_tfa(const Caller& c, const std::string& id) {
    write([&] {
        authorize({c.principal, &c}, Operation::reset_user_tfa, [&] {
            auto au = member_or_404(c, id);
            return subject_of(id, au.membership.role);
        });
        tfa_.clear(id);
    });
}

// ---- profile and 2FA -------------------------------------------------------------------

Profile AuthorityService::get_profile(const Principal& p) {
    authorize({p}, Operation::get_profile);
    Profile out;
    out.user = *p.user;
    for (const auto& m : p.memberships)
        if (m.status == MemberStatus::active) out.accounts.emplace_back(m.account, m.role);
    return out;
}

Profile AuthorityService::update_profile(const Principal& p, const std::optional<std::string>& name) {
    authorize({p}, Operation::update_profile);
    User u = *p.user;
    if (name) {
        u.name = *name;
        write([&] { store_.users().update(u); });
    }
    Principal fresh = p;
    fresh.user = store_.users().get(u.id);
    return get_profile(fresh);
}

TfaEnrolment AuthorityService::tfa_enable(const Caller& c) {
    authorize({c.principal, &c}, Operation::enrol_tfa);
    const User& u = *c.principal.user;
    if (store_.tfa().get(u.id).enabled)
        throw ApiError{409, "MUST_BE_UNIQUE", "2FA is already enabled: disable it first to enrol a new device"};
    auto e = tfa_.begin(u);
    return {e.secret_base32, e.otpauth_uri, e.expires_at};
}

std::vector<std::string> AuthorityService::tfa_confirm(const Caller& c, const std::string& code) {
    authorize({c.principal, &c}, Operation::enrol_tfa);
    const User& u = *c.principal.user;
    std::vector<std::string> codes;
    std::chrono::seconds retry{0};
    switch (tfa_.confirm(u, code, codes, retry)) {
        case tfa::TfaService::ConfirmError::none: break;
        case tfa::TfaService::ConfirmError::no_pending:
            throw ApiError{412, "PRECONDITION_FAILED", "no 2FA enrolment in progress: call tfa/enable first"};
        case tfa::TfaService::ConfirmError::expired:
            throw ApiError{412, "PRECONDITION_FAILED", "the 2FA enrolment expired: call tfa/enable again"};
        case tfa::TfaService::ConfirmError::wrong_code: throw ApiError::unprocessable("code", "invalid verification code");
        case tfa::TfaService::ConfirmError::locked:
            throw ApiError::too_many("too many failed verification codes; try again later", retry.count());
    }
    if (on_change_) on_change_();
    return codes;
}

void AuthorityService::tfa_disable(const Caller& c, const std::string& code) {
    authorize({c.principal, &c}, Operation::disable_tfa);
    const User& u = *c.principal.user;
    auto r = tfa_.verify(u, code, /*allow_recovery=*/true);
    switch (r.verdict) {
        case tfa::Verdict::ok: break;
        case tfa::Verdict::not_enrolled: throw ApiError{412, "PRECONDITION_FAILED", "2FA is not enabled"};
        case tfa::Verdict::locked:
            throw ApiError::too_many("too many failed verification codes; try again later", r.retry_after.count());
        case tfa::Verdict::wrong_code: throw ApiError::unprocessable("code", "invalid verification code");
    }
    write([&] { tfa_.clear(u.id); });
}

// ---- invitations -----------------------------------------------------------------------

Membership AuthorityService::invitation_or_404(const Principal& p, const std::string& account_id) {
    auto m = store_.memberships().get(account_id, p.user_id());
    if (!m || m->status != MemberStatus::invited) throw ApiError::not_found("no invitation to this account");
    return *m;
}

std::vector<Invitation> AuthorityService::list_invitations(const Principal& p) {
    authorize({p}, Operation::list_invitations);
    std::vector<Invitation> out;
    for (const auto& m : p.memberships) {
        if (m.status != MemberStatus::invited) continue;
        auto mem = store_.memberships().get(m.account.id, p.user_id());
        out.push_back(Invitation{m.account, m.role, mem ? mem->created_at : std::string{}});
    }
    return out;
}

std::pair<Account, Role> AuthorityService::accept_invitation(const Principal& p, const std::string& account_id) {
    authorize({p}, Operation::answer_invitation);
    Membership m;
    write([&] {
        m = invitation_or_404(p, account_id);
        m.status = MemberStatus::active;
        store_.memberships().put(m);
    });
    return {*store_.accounts().get(account_id), m.role};
}

void AuthorityService::decline_invitation(const Principal& p, const std::string& account_id) {
    authorize({p}, Operation::answer_invitation);
    write([&] {
        invitation_or_404(p, account_id);
        store_.memberships().remove(account_id, p.user_id());
    });
}

// ---- SSH keys --------------------------------------------------------------------------

SshKey AuthorityService::key_or_404(const Caller& c, const std::string& fingerprint) {
    auto k = store_.ssh_keys().get(c.account.id, fingerprint);
    if (!k) throw ApiError::not_found("SSH key not found");
    return *k;
}

PageResult<SshKey> AuthorityService::list_keys(const Caller& c, const KeyFilter& f, const PageRequest& pg) {
    const Grant g = authorize({c.principal, &c}, Operation::list_keys);
    std::optional<std::string> user = f.user_id;
    if (g.only_user_id) {
        if (user && *user != *g.only_user_id) return {};
        user = g.only_user_id;
    }
    if (!f.label) {
        PageResult<SshKey> r;
        r.items = store_.ssh_keys().list(c.account.id, user, to_store_page(pg), r.total);
        return r;
    }
    std::int64_t total = 0;
    auto all = store_.ssh_keys().list(c.account.id, user, {0, INT64_MAX}, total);
    std::erase_if(all, [&](const SshKey& k) {
        auto it = k.labels.find(f.label->first);
        return it == k.labels.end() || it->second != f.label->second;
    });
    return slice(std::move(all), pg);
}

SshKey AuthorityService::get_key(const Caller& c, const std::string& fingerprint) {
    SshKey k;
    authorize({c.principal, &c}, Operation::get_key, [&] {
        k = key_or_404(c, fingerprint);
        return Subject{k.user_id, std::nullopt, {}};
    });
    return k;
}

SshKey AuthorityService::add_key(const Caller& c, const NewKey& nk) {
    std::string owner;
    if (c.is_system() && !nk.user_id) throw ApiError::unprocessable("user_id", "required when root adds a key");
    authorize({c.principal, &c}, Operation::add_key, [&] {
        owner = nk.user_id ? *nk.user_id : c.principal.user_id();
        auto au = store_.memberships().account_user(c.account.id, owner);
        if (!au) throw ApiError::unprocessable("user_id", "no such member in this account");
        return Subject{owner, au->membership.role, {}};
    });
    auto parsed = parse_ssh_public_key(nk.public_key);
    if (auto* err = std::get_if<SshKeyError>(&parsed)) throw ApiError::unprocessable("public_key", err->message);
    const auto& p = std::get<ParsedSshKey>(parsed);
    SshKey k;
    k.account_id = c.account.id;
    k.user_id = owner;
    k.name = nk.name;
    k.fingerprint = p.fingerprint_md5;
    k.fingerprint_sha256 = p.fingerprint_sha256;
    k.public_key = p.normalized();
    k.type = p.type;
    k.bits = p.bits;
    k.labels = nk.labels;
    write([&] { store_.ssh_keys().insert(k); });
    return *store_.ssh_keys().get(c.account.id, k.fingerprint);
}

// The guard's subject for a key: its owner and their role in this account.
static Subject key_subject(store::Store& store, const SshKey& k) {
    auto m = store.memberships().get(k.account_id, k.user_id);
    return Subject{k.user_id, m ? std::optional<Role>(m->role) : std::nullopt, {}};
}

SshKey AuthorityService::update_key(const Caller& c, const std::string& fingerprint, const KeyUpdate& u) {
    SshKey k;
    authorize({c.principal, &c}, Operation::update_key, [&] {
        k = key_or_404(c, fingerprint);
        return key_subject(store_, k);
    });
    if (u.name) k.name = *u.name;
    if (u.labels) k.labels = *u.labels;
    write([&] { store_.ssh_keys().update(k); });
    return *store_.ssh_keys().get(c.account.id, fingerprint);
}

void AuthorityService::delete_key(const Caller& c, const std::string& fingerprint) {
    authorize({c.principal, &c}, Operation::delete_key, [&] { return key_subject(store_, key_or_404(c, fingerprint)); });
    write([&] { store_.ssh_keys().remove(c.account.id, fingerprint); });
}

}  // namespace portal::iam
