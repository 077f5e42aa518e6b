// Support access (PORTAL.md §1): the users root marked as the provider's support staff, and each
// account's grant. IAM state: a grant records an account change and marking records a user
// change, so the revision moves; the support memberships themselves are ordinary membership rows
// (memberships_table.h) that the support service writes in the same transaction.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "shared/model.h"

namespace portal::store {

class Connection;

// An account's grant as stored: `enabled` is the switch, whether or not expires_at has passed
// (the service reports an expired grant as not enabled, and the expiry timer switches it off).
struct StoredSupportAccess {
    std::string account_id;
    bool enabled = false;
    std::optional<std::string> granted_by, granted_at, expires_at;
};

class SupportTable {
public:
    explicit SupportTable(Connection& conn) : conn_(conn) {}

    std::optional<StoredSupportAccess> access(const std::string& account_id);
    void set_access(const StoredSupportAccess& a);
    // Switched on, expiring at or before `now` (RFC 3339), oldest expiry first.
    std::vector<std::string> expired_accounts(const std::string& now);
    // Switched on, not expired at `now`: the accounts support staff may be in.
    std::vector<std::string> granted_accounts(const std::string& now);
    // The earliest expiry of a grant that is switched on; nullopt when none is.
    std::optional<std::string> next_expiry();

    // By email.
    std::vector<SupportStaffMember> staff();
    std::vector<std::string> staff_ids();
    bool is_staff(const std::string& user_id);
    // Both false when nothing changed (already marked / not marked).
    bool mark_staff(const std::string& user_id, const std::string& at);
    bool unmark_staff(const std::string& user_id);

private:
    Connection& conn_;
};

}  // namespace portal::store
