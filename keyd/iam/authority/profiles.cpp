#include "keyd/iam/authority/profiles.h"

namespace portal::iam::authority {

Profile Profiles::get(const Principal& p) {
    authorize({p}, Operation::get_profile);
    return Profile{*p.user, active_accounts(p)};
}

Profile Profiles::update(const Principal& p, const std::optional<std::string>& name) {
    authorize({p}, Operation::update_profile);
    User u = *p.user;
    if (name) {
        u.name = *name;
        b_.write([&] { b_.store.users().update(u); });
    }
    Principal fresh = p;
    fresh.user = b_.store.users().get(u.id);
    return get(fresh);
}

}  // namespace portal::iam::authority
