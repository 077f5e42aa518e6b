// Which members lose access between two login states, and so get their sessions ended.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "shared/ipc/login_state.h"

namespace portal::revoke {

struct Revocation {
    std::string unix_name;
    std::string user_id;
    std::uint32_t uid = 0;
    std::string reason;  // the rules' reason code now ("not_portal_user" when removed)
};

// Members ipc::check_account allowed in `before` and does not allow in `after` because they
// were removed, deactivated, or their role may no longer log in (members are matched by
// user_id, their uid taken from `before`). Not revoked: members who must now enrol in 2FA
// (Enforce 2FA turned on: they may need their session to enrol, and did nothing wrong) and
// members whose name now collides with a local account (the name is no longer ours to act on).
std::vector<Revocation> losing_access(const ipc::LoginState& before, const ipc::LoginState& after);

}  // namespace portal::revoke
