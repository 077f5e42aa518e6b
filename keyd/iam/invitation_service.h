// Invitations: an existing user added to another account joins it only by accepting.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "keyd/iam/caller.h"
#include "shared/model.h"

namespace portal::iam {

// An account the user was invited to and has not answered yet.
struct Invitation {
    Account account;
    Role role = Role::manager;
    std::string invited_at;
};

class InvitationService {
public:
    virtual ~InvitationService() = default;

    virtual std::vector<Invitation> list(const Principal& p) = 0;
    // Accept: the membership becomes active; decline: it is removed.
    virtual std::pair<Account, Role> accept(const Principal& p, const std::string& account_id) = 0;
    virtual void decline(const Principal& p, const std::string& account_id) = 0;
};

}  // namespace portal::iam
