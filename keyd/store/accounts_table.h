// Accounts: the tenants; everything account-scoped hangs off one.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "keyd/store/types.h"
#include "shared/model.h"

namespace portal::store {

class Connection;

struct AccountWithRole {
    Account account;
    Role role;
    MemberStatus status = MemberStatus::active;
};

class AccountsTable {
public:
    explicit AccountsTable(Connection& conn) : conn_(conn) {}

    std::optional<Account> get(const std::string& id);
    std::vector<Account> all();
    // Every membership of the user (any status), oldest first.
    std::vector<AccountWithRole> of_user(const std::string& user_id);
    Account create(const std::string& name);
    void update(const Account& a);  // name, enforce_2fa

private:
    Connection& conn_;
};

}  // namespace portal::store
