#include "keyd/iam/authority/members.h"

#include "keyd/iam/authority/security_notices.h"
#include "keyd/iam/errors.h"

namespace portal::iam::authority {
namespace {

bool active_owner(const Membership& m) { return m.role == Role::owner && m.status == MemberStatus::active; }

// An owner gained or lost (made, re-roled, activated, deactivated, removed): the account's
// security contacts hear of it, in the same write.
void notice_owner_change(store::Store& store, const Membership* before, const Membership* after, const User& user,
                         const Principal& by) {
    const bool was = before && active_owner(*before), is = after && active_owner(*after);
    if (was == is) return;
    const auto& account_id = before ? before->account_id : after->account_id;
    queue_security_notice(store, account_id, is ? SecurityEvent::owner_added : SecurityEvent::owner_removed,
                          person_text(user) + (is ? " is now an owner." : " is no longer an owner."), by);
}

}  // namespace

PageResult<AccountUser> Members::list(const Caller& c, const UserFilter& f, const PageRequest& pg) {
    authorize({c.principal, &c}, Operation::list_members);
    PageResult<AccountUser> r;
    r.items = b_.store.memberships().list(c.account.id, store::MemberFilter{f.role, f.status, f.search_pattern},
                                          to_store_page(pg), r.total);
    for (auto& au : r.items) au = shown_to(c, std::move(au));
    return r;
}

AccountUser Members::get(const Caller& c, const std::string& id) {
    authorize({c.principal, &c}, Operation::get_member);
    return shown_to(c, b_.member_or_404(c, id));
}

AccountUser Members::create(const Caller& c, const NewUser& u) {
    authorize({c.principal, &c}, Operation::add_member);
    if (u.status == MemberStatus::deactivated)
        throw ApiError::unprocessable("status", "a new member is invited or active");
    std::string user_id;
    b_.write([&] {
        auto existing = b_.store.users().by_email(u.email);
        User user = existing ? *existing : b_.store.users().create(u.email, u.name);
        if (b_.store.memberships().get(c.account.id, user.id))
            throw ApiError::conflict("email", "already a member of this account");
        Membership m;
        m.account_id = c.account.id;
        m.user_id = user.id;
        m.role = u.role;
        // A person who already exists joins only by accepting (root provisions directly).
        m.status = existing && !c.is_system() ? MemberStatus::invited : u.status;
        b_.store.memberships().put(m);
        notice_owner_change(b_.store, nullptr, &m, user, c.principal);
        user_id = user.id;
    });
    return shown_to(c, b_.member_or_404(c, user_id));
}

AccountUser Members::update(const Caller& c, const std::string& id, const UserUpdate& u) {
    b_.write([&] {
        if (u.role || u.status) {
            AccountUser au;
            authorize({c.principal, &c}, Operation::change_membership, [&] {
                au = b_.member_or_404(c, id);
                return b_.subject_of(id, au.membership.role);
            });
            Membership after = au.membership;
            if (u.role) after.role = *u.role;
            if (u.status) {
                if (*u.status == MemberStatus::invited && au.membership.status != MemberStatus::invited)
                    throw ApiError::unprocessable("status", "a member cannot go back to invited");
                after.status = *u.status;
            }
            check_membership_change(c, {au.membership, after, b_.store.memberships().count_active_owners(c.account.id)});
            b_.store.memberships().put(after);
            notice_owner_change(b_.store, &au.membership, &after, au.user, c.principal);
        }
        if (u.name) {
            AccountUser au;
            authorize({c.principal, &c}, Operation::rename_user, [&] {
                au = b_.member_or_404(c, id);
                return b_.subject_of(id, au.membership.role);
            });
            au.user.name = *u.name;
            b_.store.users().update(au.user);
        }
        if (!u.role && !u.status && !u.name) {
            authorize({c.principal, &c}, Operation::get_member);
            b_.member_or_404(c, id);
        }
    });
    return shown_to(c, b_.member_or_404(c, id));
}

void Members::remove(const Caller& c, const std::string& id) {
    b_.write([&] {
        AccountUser au;
        authorize({c.principal, &c}, Operation::remove_member, [&] {
            au = b_.member_or_404(c, id);
            return b_.subject_of(id, au.membership.role);
        });
        check_membership_change(c, {au.membership, std::nullopt, b_.store.memberships().count_active_owners(c.account.id)});
        b_.store.memberships().remove(c.account.id, id);  // also deletes the user's keys in this account
        notice_owner_change(b_.store, &au.membership, nullptr, au.user, c.principal);
    });
}

void Members::reset_tfa(const Caller& c, const std::string& id) {
    b_.write([&] {
        AccountUser au;
        authorize({c.principal, &c}, Operation::reset_user_tfa, [&] {
            au = b_.member_or_404(c, id);
            return b_.subject_of(id, au.membership.role);
        });
        b_.tfa.clear(id);
        queue_security_notice(b_.store, c.account.id, SecurityEvent::tfa_reset,
                              "the two-factor authentication of " + person_text(au.user) +
                                  " was reset: their next sign-in enrols it again.",
                              c.principal);
    });
}

}  // namespace portal::iam::authority
