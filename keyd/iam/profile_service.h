// The caller's own profile: their user record and the accounts they act in.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "keyd/iam/caller.h"
#include "shared/model.h"

namespace portal::iam {

struct Profile {
    User user;
    std::vector<std::pair<Account, Role>> accounts;
};

class ProfileService {
public:
    virtual ~ProfileService() = default;

    virtual Profile get(const Principal& p) = 0;
    virtual Profile update(const Principal& p, const std::optional<std::string>& name) = 0;
};

}  // namespace portal::iam
