// AccountService on the embedded store.
#pragma once
#include "keyd/iam/account_service.h"
#include "keyd/iam/authority/backend.h"

namespace portal::iam::authority {

class Accounts final : public AccountService {
public:
    explicit Accounts(Backend& b) : b_(b) {}
    Account get(const Caller& c) override;
    Account update(const Caller& c, const AccountUpdate& u) override;
    std::vector<std::pair<Account, Role>> list(const Principal& p) override;
    std::pair<Account, Role> create(const Principal& p, const std::string& name,
                                    const std::optional<std::string>& owner_user_id) override;

private:
    Backend& b_;
};

}  // namespace portal::iam::authority
