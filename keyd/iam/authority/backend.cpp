#include "keyd/iam/authority/backend.h"

#include "keyd/iam/errors.h"

namespace portal::iam::authority {

void Backend::write(const std::function<void()>& f) {
    try {
        store.transaction(f);
    } catch (const store::Conflict& e) {
        throw ApiError::conflict(e.field, e.what());
    }
    changed();
}

void Backend::write_quietly(const std::function<void()>& f) {
    try {
        f();  // the table's own untracked transaction (a tracked one would refuse it)
    } catch (const store::Conflict& e) {
        throw ApiError::conflict(e.field, e.what());
    }
}

Subject Backend::subject_of(const std::string& user_id, std::optional<Role> role_here) {
    Subject s;
    s.user_id = user_id;
    s.role_here = role_here;
    for (auto& ar : store.accounts().of_user(user_id))
        s.memberships.push_back(AccountMembership{std::move(ar.account), ar.role, ar.status});
    return s;
}

AccountUser Backend::member_or_404(const Caller& c, const std::string& user_id) {
    auto au = store.memberships().account_user(c.account.id, user_id);
    if (!au) throw ApiError::not_found("user not found in this account");
    return *au;
}

}  // namespace portal::iam::authority
