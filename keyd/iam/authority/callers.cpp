#include "keyd/iam/authority/callers.h"

#include <algorithm>

#include "keyd/iam/errors.h"

namespace portal::iam::authority {

Principal Callers::principal_for_uid(uid_t uid) {
    Principal p;
    p.uid = uid;
    if (uid == 0) {
        p.kind = Principal::Kind::system;
        return p;
    }
    auto user = b_.store.users().by_uid(static_cast<std::uint32_t>(uid));
    if (!user) throw ApiError::forbidden("uid " + std::to_string(uid) + " is not a portal user");
    p.user = std::move(user);
    for (auto& ar : b_.store.accounts().of_user(p.user_id()))
        p.memberships.push_back(AccountMembership{std::move(ar.account), ar.role, ar.status});
    return p;
}

Caller Callers::caller_in(const Principal& p, const std::optional<std::string>& account_id) {
    Caller c;
    c.principal = p;
    if (p.is_system()) {
        std::optional<Account> a;
        if (account_id) {
            a = b_.store.accounts().get(*account_id);
        } else {
            auto all = b_.store.accounts().all();
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
    c.membership = b_.store.memberships().get(c.account.id, p.user_id());
    return c;
}

}  // namespace portal::iam::authority
