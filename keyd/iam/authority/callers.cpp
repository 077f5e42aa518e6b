#include "keyd/iam/authority/callers.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "keyd/iam/authority/ip_allowlist.h"
#include "keyd/iam/authority/tokens.h"
#include "keyd/iam/errors.h"
#include "keyd/iam/guard.h"
#include "keyd/store/timestamp.h"

namespace portal::iam::authority {
namespace {

// last_used_at is kept to the minute: a credential already marked in this minute needs no
// write (RFC 3339 with whole seconds sorts as text; "2026-12-02T13:15" is the minute).
bool used_before_this_minute(const std::optional<std::string>& last_used_at, const std::string& now) {
    return !last_used_at || last_used_at->compare(0, 16, now, 0, 16) < 0;
}

}  // namespace

Principal Callers::principal_for_uid(uid_t uid) {
    Principal p;
    p.uid = uid;
    if (uid == 0) {
        p.kind = Principal::Kind::system;
        return p;
    }
    auto user = b_.store.users().by_uid(static_cast<std::uint32_t>(uid));
    if (!user) throw ApiError::forbidden("uid " + std::to_string(uid) + " is not a portal user");
    return user_principal(std::move(*user));
}

Principal Callers::principal_for_token(const std::string& token, const std::string& remote_address) {
    Principal p;
    if (well_formed_credential(token, kHostTokenPrefix)) p = principal_for_host_token(token);
    else if (well_formed_credential(token, kSessionTokenPrefix)) p = principal_for_session(token);
    else if (well_formed_credential(token, kApiTokenPrefix)) p = principal_for_api_token(token);
    else throw ApiError::credential_not_accepted();
    p.remote_address = remote_address;
    if (p.credential == Credential::session) admit_session_address(p);
    return p;
}

Principal Callers::user_principal(User user) {
    Principal p;
    p.kind = Principal::Kind::user;
    p.uid = user.uid;
    p.user = std::move(user);
    for (auto& ar : b_.store.accounts().of_user(p.user_id()))
        p.memberships.push_back(AccountMembership{std::move(ar.account), ar.role, ar.status});
    return p;
}

Principal Callers::principal_for_api_token(const std::string& token) {
    auto t = b_.store.api_tokens().by_hash(credential_hash(token));
    const std::string now = store::now_rfc3339();
    if (!t || (t->expires_at && *t->expires_at <= now)) throw ApiError::credential_not_accepted();
    auto user = b_.store.users().get(t->user_id);
    if (!user) throw ApiError::credential_not_accepted();
    Principal p = user_principal(std::move(*user));
    p.credential = t->access == TokenAccess::full ? Credential::api_token_full : Credential::api_token_read_only;
    p.credential_id = t->id;
    // Deactivated or removed everywhere: the token stops at once (and works again if the
    // user is reactivated; deleting it is the user's or an owner's call).
    if (!has_active_membership(p)) throw ApiError::credential_not_accepted();
    if (used_before_this_minute(t->last_used_at, now)) b_.store.api_tokens().mark_used(t->id, now);
    return p;
}

// A portal session: its user while they are active somewhere. Unlike an API token, a session
// of a user who lost their last active membership is ended, not suspended.
Principal Callers::principal_for_session(const std::string& token) {
    auto s = b_.store.sessions().by_hash(credential_hash(token));
    const std::string now = store::now_rfc3339();
    if (!s || s->expires_at <= now) throw ApiError::credential_not_accepted();
    auto user = b_.store.users().get(s->user_id);
    if (!user) throw ApiError::credential_not_accepted();
    Principal p = user_principal(std::move(*user));
    p.credential = Credential::session;
    p.credential_id = s->id;
    if (!has_active_membership(p)) {
        b_.write_quietly([&] { b_.store.sessions().remove(s->id); });
        throw ApiError::credential_not_accepted();
    }
    if (used_before_this_minute(s->last_used_at, now)) b_.store.sessions().mark_used(s->id, now);
    return p;
}

void Callers::admit_session_address(Principal& p) {
    for (auto& m : p.memberships)
        if (m.status == MemberStatus::active)
            m.address_admitted = allowlist_admits(b_.store.ip_allowlist().of_account(m.account.id), p.remote_address);
}

// An enrolled host: its account's feed and nothing else (the guard). Deleted: refused at once.
Principal Callers::principal_for_host_token(const std::string& token) {
    auto host = b_.store.hosts().by_hash(credential_hash(token));
    if (!host) throw ApiError::credential_not_accepted();
    Principal p;
    p.kind = Principal::Kind::host;
    p.credential = Credential::host_token;
    p.credential_id = host->id;
    p.host = std::move(host);
    return p;
}

Caller Callers::caller_in(const Principal& p, const std::optional<std::string>& account_id) {
    Caller c;
    c.principal = p;
    // Not a person: no membership anywhere. The operation's authorize() refuses it (a host
    // token reads its feed only), before anything of the account is read.
    if (p.kind == Principal::Kind::host || p.kind == Principal::Kind::anonymous) return c;
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
        // The default is the oldest account the user is active in (a session: that admits its
        // address), else the oldest: the guard says why not.
        it = std::find_if(mine.begin(), mine.end(),
                          [](const auto& m) { return m.status == MemberStatus::active && m.address_admitted; });
        if (it == mine.end())
            it = std::find_if(mine.begin(), mine.end(), [](const auto& m) { return m.status == MemberStatus::active; });
        if (it == mine.end()) it = mine.begin();
    }
    if (it == mine.end()) throw ApiError::not_found("account not found");
    c.account = it->account;
    c.role = it->role;
    c.address_admitted = it->address_admitted;
    c.membership = b_.store.memberships().get(c.account.id, p.user_id());
    return c;
}

}  // namespace portal::iam::authority
