#include "keyd/iam/authority/invitations.h"

#include "keyd/iam/authority/security_notices.h"
#include "keyd/iam/errors.h"

namespace portal::iam::authority {

Membership Invitations::invitation_or_404(const Principal& p, const std::string& account_id) {
    auto m = b_.store.memberships().get(account_id, p.user_id());
    if (!m || m->status != MemberStatus::invited) throw ApiError::not_found("no invitation to this account");
    return *m;
}

std::vector<Invitation> Invitations::list(const Principal& p) {
    authorize({p}, Operation::list_invitations);
    std::vector<Invitation> out;
    for (const auto& m : p.memberships) {
        if (m.status != MemberStatus::invited) continue;
        auto mem = b_.store.memberships().get(m.account.id, p.user_id());
        out.push_back(Invitation{m.account, m.role, mem ? mem->created_at : std::string{}});
    }
    return out;
}

std::pair<Account, Role> Invitations::accept(const Principal& p, const std::string& account_id) {
    authorize({p}, Operation::answer_invitation);
    Membership m;
    b_.write([&] {
        m = invitation_or_404(p, account_id);
        m.status = MemberStatus::active;
        b_.store.memberships().put(m);
        if (m.role == Role::owner && p.user)
            queue_security_notice(b_.store, account_id, SecurityEvent::owner_added,
                                  person_text(*p.user) + " accepted the invitation and is now an owner.", p);
    });
    return {*b_.store.accounts().get(account_id), m.role};
}

void Invitations::decline(const Principal& p, const std::string& account_id) {
    authorize({p}, Operation::answer_invitation);
    b_.write([&] {
        invitation_or_404(p, account_id);
        b_.store.memberships().remove(account_id, p.user_id());
    });
}

}  // namespace portal::iam::authority
