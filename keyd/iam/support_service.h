// Support access (PORTAL.md §1): an account's owners let the provider's support staff in until a
// time of their choosing (at most kSupportAccessMax ahead). While the grant holds, every support
// staff member has a `support` membership in the account (active); when it is switched off or
// expires, those memberships are deactivated: locked and their sessions ended like any member's.
// Servers let `support` members log in only where `[login] roles` lists support. Who the staff
// are is this server's own administration (root on the authority's socket).
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "keyd/iam/caller.h"
#include "shared/model.h"

namespace portal::iam {

inline constexpr std::chrono::seconds kSupportAccessMax{30 * 86400};

struct SupportAccessChange {
    bool enabled = false;
    std::optional<std::string> expires_at;  // RFC 3339 UTC: required to grant, refused to revoke
};

class SupportService {
public:
    virtual ~SupportService() = default;
    // Owners only (the guard).
    virtual SupportAccess access(const Caller& c) = 0;
    // Grants (or moves the expiry of) or revokes; 422 "expires_at" for a time in the past, more
    // than kSupportAccessMax ahead, or not RFC 3339.
    virtual SupportAccess set_access(const Caller& c, const SupportAccessChange& change) = 0;

    // Root on this server's socket only.
    virtual std::vector<SupportStaffMember> staff(const Principal& p) = 0;
    // 404 no such user; marking a marked user (or unmarking an unmarked one) changes nothing.
    virtual SupportStaffMember mark_staff(const Principal& p, const std::string& user_id) = 0;
    virtual void unmark_staff(const Principal& p, const std::string& user_id) = 0;

    // The service's own clock work, not an API operation (the authority's expiry timer): ends
    // the grants that expired at `now`, and says when the next one does.
    virtual std::optional<std::chrono::system_clock::time_point> expire_due(std::chrono::system_clock::time_point now) = 0;
};

}  // namespace portal::iam
