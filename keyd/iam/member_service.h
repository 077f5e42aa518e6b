// The members of the caller's account (the API's /v1/account/users).
#pragma once
#include <optional>
#include <string>

#include "keyd/iam/caller.h"
#include "keyd/iam/paging.h"
#include "shared/model.h"

namespace portal::iam {

struct UserFilter {
    std::optional<std::string> search_pattern;
    std::optional<Role> role;
    std::optional<MemberStatus> status;
};

struct NewUser {
    std::string email, name;
    Role role = Role::manager;
    MemberStatus status = MemberStatus::active;
};

struct UserUpdate {
    std::optional<std::string> name;
    std::optional<Role> role;
    std::optional<MemberStatus> status;
};

class MemberService {
public:
    virtual ~MemberService() = default;

    virtual PageResult<AccountUser> list(const Caller& c, const UserFilter& f, const PageRequest& pg) = 0;
    virtual AccountUser get(const Caller& c, const std::string& id) = 0;
    virtual AccountUser create(const Caller& c, const NewUser& u) = 0;
    virtual AccountUser update(const Caller& c, const std::string& id, const UserUpdate& u) = 0;
    virtual void remove(const Caller& c, const std::string& id) = 0;
    virtual void reset_tfa(const Caller& c, const std::string& id) = 0;
};

}  // namespace portal::iam
