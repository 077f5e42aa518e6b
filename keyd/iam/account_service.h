// Accounts: the caller's account, the accounts a principal acts in, new accounts.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "keyd/iam/caller.h"
#include "shared/model.h"

namespace portal::iam {

struct AccountUpdate {
    std::optional<std::string> name;
    std::optional<bool> enforce_2fa;
    std::optional<std::string> confirm;
};

class AccountService {
public:
    virtual ~AccountService() = default;

    virtual Account get(const Caller& c) = 0;
    virtual Account update(const Caller& c, const AccountUpdate& u) = 0;
    virtual std::vector<std::pair<Account, Role>> list(const Principal& p) = 0;
    virtual std::pair<Account, Role> create(const Principal& p, const std::string& name,
                                            const std::optional<std::string>& owner_user_id) = 0;
};

}  // namespace portal::iam
