// MemberService on the embedded store.
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/member_service.h"

namespace portal::iam::authority {

class Members final : public MemberService {
public:
    explicit Members(Backend& b) : b_(b) {}
    PageResult<AccountUser> list(const Caller& c, const UserFilter& f, const PageRequest& pg) override;
    AccountUser get(const Caller& c, const std::string& id) override;
    AccountUser create(const Caller& c, const NewUser& u) override;
    AccountUser update(const Caller& c, const std::string& id, const UserUpdate& u) override;
    void remove(const Caller& c, const std::string& id) override;
    void reset_tfa(const Caller& c, const std::string& id) override;

private:
    Backend& b_;
};

}  // namespace portal::iam::authority
