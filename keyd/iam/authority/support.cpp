#include "keyd/iam/authority/support.h"

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "keyd/iam/authority/security_notices.h"
#include "keyd/iam/errors.h"
#include "keyd/log/log.h"
#include "keyd/store/timestamp.h"

namespace portal::iam::authority {
namespace {

using Clock = std::chrono::system_clock;

std::string rfc3339(Clock::time_point t) { return store::format_rfc3339(Clock::to_time_t(t)); }

// The expiry a grant asks for, checked against `now`: 422 naming expires_at otherwise.
std::string checked_expiry(const std::optional<std::string>& text, Clock::time_point now) {
    if (!text) throw ApiError::unprocessable("expires_at", "is required to grant support access");
    const auto t = store::parse_rfc3339(*text);
    if (!t) throw ApiError::unprocessable("expires_at", "must be an RFC 3339 UTC time such as 2026-12-31T18:00:00Z");
    // Compared in seconds: a time centuries ahead is refused here, never made a clock time
    // point (nanoseconds since 1970 overflow after 2262; the fuzzer sent 9923).
    const std::int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const std::int64_t at = *t;
    if (at <= now_s) throw ApiError::unprocessable("expires_at", "must be in the future");
    if (at - now_s > kSupportAccessMax.count())
        throw ApiError::unprocessable("expires_at", "must be at most " + std::to_string(kSupportAccessMax.count() / 86400) +
                                                        " days ahead");
    return *text;
}

}  // namespace

SupportAccess Support::shown(const std::string& account_id, Clock::time_point now) {
    SupportAccess a;
    auto stored = b_.store.support().access(account_id);
    if (!stored) return a;
    a.granted_by = stored->granted_by;
    a.granted_at = stored->granted_at;
    a.expires_at = stored->expires_at;
    // Expired but not yet switched off by the timer: already not granted.
    a.enabled = stored->enabled && stored->expires_at && *stored->expires_at > rfc3339(now);
    return a;
}

SupportAccess Support::access(const Caller& c) {
    authorize({c.principal, &c}, Operation::get_support_access);
    return shown(c.account.id, Clock::now());
}

SupportAccess Support::set_access(const Caller& c, const SupportAccessChange& change) {
    authorize({c.principal, &c}, Operation::change_support_access);
    const auto now = Clock::now();
    if (!change.enabled && change.expires_at)
        throw ApiError::unprocessable("expires_at", "is only given with enabled: true");
    const std::optional<std::string> expires = change.enabled ? std::optional(checked_expiry(change.expires_at, now))
                                                              : std::nullopt;
    b_.write([&] {
        auto stored = b_.store.support().access(c.account.id);
        if (!change.enabled) {
            if (!stored || !stored->enabled) return;  // nothing granted: nothing to end
            stored->enabled = false;                  // the last grant's who and when stay on record
            b_.store.support().set_access(*stored);
            lock_out(c.account.id);
            return;
        }
        store::StoredSupportAccess grant;
        grant.account_id = c.account.id;
        grant.enabled = true;
        if (c.principal.user) grant.granted_by = c.principal.user_id();
        grant.granted_at = rfc3339(now);
        grant.expires_at = expires;
        b_.store.support().set_access(grant);
        let_in(c.account.id, b_.store.support().staff_ids());
        queue_security_notice(b_.store, c.account.id, SecurityEvent::support_access_granted,
                              "the provider's support staff may access the account, and log in where servers allow "
                              "it, until " + *expires + ".",
                              c.principal);
    });
    log::info(change.enabled ? "support access granted" : "support access ended",
              {{"account", c.account.id},
               {"by", c.principal.user ? c.principal.user_id() : std::string("root")},
               {"expires_at", expires.value_or("")}});
    return shown(c.account.id, now);
}

std::vector<SupportStaffMember> Support::staff(const Principal& p) {
    authorize({p}, Operation::list_support_staff);
    return b_.store.support().staff();
}

SupportStaffMember Support::mark_staff(const Principal& p, const std::string& user_id) {
    authorize({p}, Operation::manage_support_staff);
    b_.write([&] {
        if (!b_.store.users().get(user_id)) throw ApiError::not_found("user not found");
        const auto now = Clock::now();
        if (!b_.store.support().mark_staff(user_id, rfc3339(now))) return;
        for (const auto& account_id : b_.store.support().granted_accounts(rfc3339(now))) let_in(account_id, {user_id});
    });
    for (auto& s : b_.store.support().staff())
        if (s.user_id == user_id) return s;
    throw ApiError::not_found("user not found");  // deleted meanwhile
}

void Support::unmark_staff(const Principal& p, const std::string& user_id) {
    authorize({p}, Operation::manage_support_staff);
    b_.write([&] {
        if (!b_.store.support().unmark_staff(user_id)) throw ApiError::not_found("no such support staff member");
        for (const auto& m : b_.store.accounts().of_user(user_id))
            if (m.role == Role::support) lock_out(m.account.id, user_id);
    });
}

std::optional<Clock::time_point> Support::expire_due(Clock::time_point now) {
    const auto expired = b_.store.support().expired_accounts(rfc3339(now));
    if (!expired.empty()) {
        b_.write([&] {
            for (const auto& account_id : expired) {
                auto stored = b_.store.support().access(account_id);
                if (!stored || !stored->enabled) continue;
                stored->enabled = false;
                b_.store.support().set_access(*stored);
                lock_out(account_id);
            }
        });
        for (const auto& account_id : expired) log::info("support access expired", {{"account", account_id}});
    }
    const auto next = b_.store.support().next_expiry();
    if (!next) return std::nullopt;
    const auto t = store::parse_rfc3339(*next);
    return t ? std::optional(Clock::from_time_t(*t)) : std::optional(now);  // unreadable: ask again at once
}

void Support::let_in(const std::string& account_id, const std::vector<std::string>& staff) {
    for (const auto& user_id : staff) {
        auto m = b_.store.memberships().get(account_id, user_id);
        // An active support membership is written again all the same: its login entry carries
        // the grant's expiry (access_until), and a new grant moves it.
        if (m && m->role != Role::support) continue;
        Membership in;
        in.account_id = account_id;
        in.user_id = user_id;
        in.role = Role::support;
        in.status = MemberStatus::active;
        b_.store.memberships().put(in);
    }
}

void Support::lock_out(const std::string& account_id, const std::optional<std::string>& user_id) {
    const auto ids = user_id ? std::vector<std::string>{*user_id}
                             : b_.store.memberships().user_ids_with_role(account_id, Role::support);
    for (const auto& id : ids) {
        auto m = b_.store.memberships().get(account_id, id);
        if (!m || m->role != Role::support || m->status == MemberStatus::deactivated) continue;
        m->status = MemberStatus::deactivated;
        b_.store.memberships().put(*m);
    }
}

}  // namespace portal::iam::authority
