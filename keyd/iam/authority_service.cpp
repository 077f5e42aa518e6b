#include "keyd/iam/authority_service.h"

#include <algorithm>

#include "keyd/iam/errors.h"
#include "keyd/iam/policy.h"
#include "shared/ssh_key.h"

namespace portal::iam {
namespace {

using policy::Action;

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
    auto user = store_.user_by_uid(static_cast<std::uint32_t>(uid));
    if (!user) throw ApiError::forbidden("uid " + std::to_string(uid) + " is not a portal user");
    p.user = std::move(user);
    return p;
}

Caller AuthorityService::caller_in(const Principal& p, const std::optional<std::string>& account_id) {
    Caller c;
    c.principal = p;
    if (p.is_system()) {
        std::optional<Account> a;
        if (account_id) {
            a = store_.account(*account_id);
        } else {
            auto all = store_.all_accounts();
            if (!all.empty()) a = all.front();
        }
        if (!a) throw ApiError::not_found(account_id ? "account not found" : "no account exists yet: create one first");
        c.account = *a;
        c.role = Role::owner;
        return c;
    }
    auto mine = store_.accounts_of_user(p.user_id());
    auto it = mine.begin();
    if (account_id)
        it = std::find_if(mine.begin(), mine.end(), [&](const auto& ar) { return ar.account.id == *account_id; });
    if (it == mine.end()) throw ApiError::not_found("account not found");
    c.account = it->account;
    c.role = it->role;
    c.membership = store_.membership(c.account.id, p.user_id());
    return c;
}

// ---- account ---------------------------------------------------------------------------

Account AuthorityService::get_account(const Caller& c) {
    policy::require(c, Action::read_account);
    return c.account;
}

Account AuthorityService::update_account(const Caller& c, const AccountUpdate& u) {
    policy::require(c, Action::update_account);
    Account a = c.account;
    if (u.name) a.name = *u.name;
    if (u.enforce_2fa && *u.enforce_2fa != a.enforce_2fa) {
        // Confirmed by typing the account id, as in the portal.
        if (!u.confirm || *u.confirm != a.id)
            throw ApiError::unprocessable("confirm", "changing enforce_2fa needs confirm set to the account id");
        a.enforce_2fa = *u.enforce_2fa;
    }
    write([&] { store_.update_account(a); });
    return *store_.account(a.id);
}

std::vector<std::pair<Account, Role>> AuthorityService::list_accounts(const Principal& p) {
    std::vector<std::pair<Account, Role>> out;
    if (p.is_system()) {
        for (auto& a : store_.all_accounts()) out.emplace_back(std::move(a), Role::owner);
        return out;
    }
    for (auto& ar : store_.accounts_of_user(p.user_id())) out.emplace_back(std::move(ar.account), ar.role);
    return out;
}

std::pair<Account, Role> AuthorityService::create_account(const Principal& p, const std::string& name,
                                                          const std::optional<std::string>& owner_user_id) {
    std::string owner;
    if (p.is_system()) {
        // root may create an empty account (the first one on a fresh server) or name its owner.
        if (owner_user_id && !store_.user(*owner_user_id))
            throw ApiError::unprocessable("owner_user_id", "no such user");
        if (owner_user_id) owner = *owner_user_id;
    } else {
        if (owner_user_id && *owner_user_id != p.user_id())
            throw ApiError::unprocessable("owner_user_id", "you can only create accounts you own");
        owner = p.user_id();
    }
    Account created;
    write([&] {
        created = store_.create_account(name);
        if (!owner.empty()) {
            Membership m;
            m.account_id = created.id;
            m.user_id = owner;
            m.role = Role::owner;
            m.status = MemberStatus::active;
            store_.put_membership(m);
        }
    });
    return {created, Role::owner};
}

// ---- users -----------------------------------------------------------------------------

AccountUser AuthorityService::member_or_404(const Caller& c, const std::string& user_id) {
    auto au = store_.account_user(c.account.id, user_id);
    if (!au) throw ApiError::not_found("user not found in this account");
    return *au;
}

PageResult<AccountUser> AuthorityService::list_users(const Caller& c, const UserFilter& f, const PageRequest& pg) {
    policy::require(c, Action::read_users);
    PageResult<AccountUser> r;
    r.items = store_.account_users(c.account.id, store::MemberFilter{f.role, f.status, f.search_pattern},
                                   to_store_page(pg), r.total);
    return r;
}

AccountUser AuthorityService::get_user(const Caller& c, const std::string& id) {
    policy::require(c, Action::read_users);
    return member_or_404(c, id);
}

AccountUser AuthorityService::create_user(const Caller& c, const NewUser& u) {
    policy::require(c, Action::manage_users);
    if (u.status == MemberStatus::deactivated)
        throw ApiError::unprocessable("status", "a new member is invited or active");
    std::string user_id;
    write([&] {
        auto existing = store_.user_by_email(u.email);
        User user = existing ? *existing : store_.create_user(u.email, u.name);
        if (store_.membership(c.account.id, user.id)) throw ApiError::conflict("email", "already a member of this account");
        Membership m;
        m.account_id = c.account.id;
        m.user_id = user.id;
        m.role = u.role;
        m.status = u.status;
        store_.put_membership(m);
        user_id = user.id;
    });
    return member_or_404(c, user_id);
}

AccountUser AuthorityService::update_user(const Caller& c, const std::string& id, const UserUpdate& u) {
    policy::require(c, Action::manage_users);
    write([&] {
        auto au = member_or_404(c, id);
        if (u.role || u.status) {
            Membership after = au.membership;
            if (u.role) after.role = *u.role;
            if (u.status) {
                if (*u.status == MemberStatus::invited && au.membership.status != MemberStatus::invited)
                    throw ApiError::unprocessable("status", "a member cannot go back to invited");
                after.status = *u.status;
            }
            policy::check_membership_change(c, {au.membership, after, store_.count_active_owners(c.account.id)});
            store_.put_membership(after);
        }
        if (u.name) {
            au.user.name = *u.name;
            store_.update_user(au.user);
        }
    });
    return member_or_404(c, id);
}

void AuthorityService::remove_user(const Caller& c, const std::string& id) {
    policy::require(c, Action::manage_users);
    write([&] {
        auto au = member_or_404(c, id);
        policy::check_membership_change(c, {au.membership, std::nullopt, store_.count_active_owners(c.account.id)});
        store_.delete_membership(c.account.id, id);  // also deletes the user's keys in this account
    });
}

void AuthorityService::reset_user_tfa(const Caller& c, const std::string& id) {
    policy::require(c, Action::manage_users);
    member_or_404(c, id);
    tfa_.clear(id);
    if (on_change_) on_change_();
}

// ---- profile and 2FA -------------------------------------------------------------------

const User& AuthorityService::profile_user(const Principal& p) {
    if (p.is_system() || !p.user) throw ApiError::forbidden("the system principal (root) has no profile");
    return *p.user;
}

Profile AuthorityService::get_profile(const Principal& p) {
    Profile out;
    out.user = profile_user(p);
    out.accounts = list_accounts(p);
    return out;
}

Profile AuthorityService::update_profile(const Principal& p, const std::optional<std::string>& name) {
    User u = profile_user(p);
    if (name) {
        u.name = *name;
        write([&] { store_.update_user(u); });
    }
    Principal fresh = p;
    fresh.user = store_.user(u.id);
    return get_profile(fresh);
}

TfaEnrolment AuthorityService::tfa_enable(const Caller& c) {
    const User& u = profile_user(c.principal);
    policy::require(c, Action::enrol_own_tfa);
    if (store_.tfa(u.id).enabled)
        throw ApiError{409, "MUST_BE_UNIQUE", "2FA is already enabled: disable it first to enrol a new device"};
    auto e = tfa_.begin(u);
    return {e.secret_base32, e.otpauth_uri, e.expires_at};
}

std::vector<std::string> AuthorityService::tfa_confirm(const Caller& c, const std::string& code) {
    const User& u = profile_user(c.principal);
    policy::require(c, Action::enrol_own_tfa);
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
    const User& u = profile_user(c.principal);
    policy::require(c, Action::read_own_profile);
    auto r = tfa_.verify(u, code, /*allow_recovery=*/true);
    switch (r.verdict) {
        case tfa::Verdict::ok: break;
        case tfa::Verdict::not_enrolled: throw ApiError{412, "PRECONDITION_FAILED", "2FA is not enabled"};
        case tfa::Verdict::locked:
            throw ApiError::too_many("too many failed verification codes; try again later", r.retry_after.count());
        case tfa::Verdict::wrong_code: throw ApiError::unprocessable("code", "invalid verification code");
    }
    tfa_.clear(u.id);
    if (on_change_) on_change_();
}

// ---- SSH keys --------------------------------------------------------------------------

SshKey AuthorityService::visible_key_or_404(const Caller& c, const std::string& fingerprint) {
    auto k = store_.ssh_key(c.account.id, fingerprint);
    // Managers see only their own keys; someone else's key is "not found", not "forbidden".
    if (!k || (c.role != Role::owner && k->user_id != c.principal.user_id())) throw ApiError::not_found("SSH key not found");
    return *k;
}

PageResult<SshKey> AuthorityService::list_keys(const Caller& c, const KeyFilter& f, const PageRequest& pg) {
    policy::require(c, Action::read_keys);
    std::optional<std::string> user = f.user_id;
    if (c.role != Role::owner) {
        if (user && *user != c.principal.user_id()) return {};
        user = c.principal.user_id();
    }
    if (!f.label) {
        PageResult<SshKey> r;
        r.items = store_.ssh_keys(c.account.id, user, to_store_page(pg), r.total);
        return r;
    }
    std::int64_t total = 0;
    auto all = store_.ssh_keys(c.account.id, user, {0, INT64_MAX}, total);
    std::erase_if(all, [&](const SshKey& k) {
        auto it = k.labels.find(f.label->first);
        return it == k.labels.end() || it->second != f.label->second;
    });
    return slice(std::move(all), pg);
}

SshKey AuthorityService::get_key(const Caller& c, const std::string& fingerprint) {
    policy::require(c, Action::read_keys);
    return visible_key_or_404(c, fingerprint);
}

SshKey AuthorityService::add_key(const Caller& c, const NewKey& nk) {
    std::string owner;
    if (nk.user_id && (c.is_system() || *nk.user_id != c.principal.user_id())) {
        policy::require(c, Action::manage_any_keys);
        owner = *nk.user_id;
        auto au = store_.account_user(c.account.id, owner);
        if (!au) throw ApiError::unprocessable("user_id", "no such member in this account");
    } else {
        if (c.is_system()) throw ApiError::unprocessable("user_id", "required when root adds a key");
        policy::require(c, Action::manage_own_keys);
        owner = c.principal.user_id();
    }
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
    write([&] { store_.insert_ssh_key(k); });
    return *store_.ssh_key(c.account.id, k.fingerprint);
}

SshKey AuthorityService::update_key(const Caller& c, const std::string& fingerprint, const KeyUpdate& u) {
    policy::require(c, Action::manage_own_keys);
    auto k = visible_key_or_404(c, fingerprint);
    if (u.name) k.name = *u.name;
    if (u.labels) k.labels = *u.labels;
    write([&] { store_.update_ssh_key(k); });
    return *store_.ssh_key(c.account.id, fingerprint);
}

void AuthorityService::delete_key(const Caller& c, const std::string& fingerprint) {
    policy::require(c, Action::manage_own_keys);
    visible_key_or_404(c, fingerprint);
    write([&] { store_.delete_ssh_key(c.account.id, fingerprint); });
}

}  // namespace portal::iam
