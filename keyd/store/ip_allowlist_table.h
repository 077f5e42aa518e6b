// An account's IP allowlist (PORTAL.md §1): the active switch and the entries. IAM state (a
// server may apply it to SSH logins): every write records an account change, so the revision
// moves and the login view and the feed follow.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "shared/model.h"

namespace portal::store {

class Connection;

class IpAllowlistTable {
public:
    explicit IpAllowlistTable(Connection& conn) : conn_(conn) {}

    IpAllowlist of_account(const std::string& account_id);
    void set_active(const std::string& account_id, bool active, const std::string& at);
    // Conflict("cidr") when the account lists that network already.
    void insert(const std::string& account_id, const IpAllowlistEntry& e);
    // false: no such entry. Conflict("cidr") as insert.
    bool update(const std::string& account_id, const IpAllowlistEntry& e);
    bool remove(const std::string& account_id, const std::string& id);

private:
    Connection& conn_;
};

}  // namespace portal::store
