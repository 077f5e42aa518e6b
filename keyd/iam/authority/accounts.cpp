#include "keyd/iam/authority/accounts.h"

#include "keyd/iam/authority/security_notices.h"
#include "keyd/iam/errors.h"

namespace portal::iam::authority {

Account Accounts::get(const Caller& c) {
    authorize({c.principal, &c}, Operation::get_account);
    return c.account;
}

Account Accounts::update(const Caller& c, const AccountUpdate& u) {
    authorize({c.principal, &c}, Operation::update_account);
    Account a = c.account;
    if (u.name) a.name = *u.name;
    if (u.enforce_2fa && *u.enforce_2fa != a.enforce_2fa) {
        // Confirmed by typing the account id, as in the portal.
        if (!u.confirm || *u.confirm != a.id)
            throw ApiError::unprocessable("confirm", "changing enforce_2fa needs confirm set to the account id");
        a.enforce_2fa = *u.enforce_2fa;
    }
    b_.write([&] {
        b_.store.accounts().update(a);
        if (a.enforce_2fa != c.account.enforce_2fa)
            queue_security_notice(b_.store, a.id, SecurityEvent::enforce_2fa_changed,
                                  a.enforce_2fa ? "Enforce 2FA is now on: members without two-factor authentication "
                                                  "cannot sign in or log in until they enrol."
                                                : "Enforce 2FA is now off: members may sign in and log in without "
                                                  "two-factor authentication.",
                                  c.principal);
    });
    return *b_.store.accounts().get(a.id);
}

std::vector<std::pair<Account, Role>> Accounts::list(const Principal& p) {
    authorize({p}, Operation::list_accounts);
    std::vector<std::pair<Account, Role>> out;
    if (p.is_system()) {
        for (auto& a : b_.store.accounts().all()) out.emplace_back(std::move(a), Role::owner);
        return out;
    }
    // Only accounts the user acts in: invitations are listed under /v1/profile/invitations.
    return active_accounts(p);
}

std::pair<Account, Role> Accounts::create(const Principal& p, const std::string& name,
                                          const std::optional<std::string>& owner_user_id) {
    authorize({p}, Operation::create_account);
    std::string owner;
    if (p.is_system()) {
        // root may create an empty account (the first one on a fresh server) or name its owner.
        if (owner_user_id && !b_.store.users().get(*owner_user_id))
            throw ApiError::unprocessable("owner_user_id", "no such user");
        if (owner_user_id) owner = *owner_user_id;
    } else {
        if (owner_user_id && *owner_user_id != p.user_id())
            throw ApiError::unprocessable("owner_user_id", "you can only create accounts you own");
        owner = p.user_id();
    }
    Account created;
    b_.write([&] {
        created = b_.store.accounts().create(name);
        if (!owner.empty()) {
            Membership m;
            m.account_id = created.id;
            m.user_id = owner;
            m.role = Role::owner;
            m.status = MemberStatus::active;
            b_.store.memberships().put(m);
        }
    });
    return {created, Role::owner};
}

}  // namespace portal::iam::authority
