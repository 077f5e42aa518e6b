// Which portal members become Unix users (plan_publication); the checks against the
// machine's own users and groups it is given are in local_accounts.h.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "keyd/userdb/config.h"
#include "shared/ipc/login_state.h"

namespace portal::userdb {

// A member who would be published but is not: a collision with a local or reserved account,
// another member, or a name or uid that cannot be used.
struct Refusal {
    std::string unix_name;
    std::uint32_t uid = 0;
    std::string user_id;
    std::string reason;  // e.g. "name exists locally"
};

struct PublishPlan {
    ipc::LoginState state;              // `published` set on every member
    std::vector<std::string> warnings;  // e.g. "alice: name exists locally"
    std::vector<Refusal> refused;       // the members among the warnings
};

// Publishes the members for whom check_account() would allow a login or would refuse only
// for lacking 2FA under Enforce 2FA (they are put in the 2FA group, so pam_portal.so tells
// them to enrol), and deactivated members (published with "locked": true until they are
// removed); invited members and members whose role may not log in are not published. A member is never published when its
// name is invalid or reserved (is_reserved_unix_name), its name or uid exists locally
// (name_taken_locally / id_taken_locally: a user or a group), or another member already holds
// the name or uid. Members with 2FA are not published when cfg.tfa_group does not exist
// locally and cfg.tfa_group_gid does (sshd's Match Group would not see them). Role groups
// that do not exist locally give a warning (their memberships are skipped).
PublishPlan plan_publication(ipc::LoginState state, const UserdbConfig& cfg,
                             const std::function<bool(std::string_view)>& name_taken_locally,
                             const std::function<bool(std::uint32_t)>& id_taken_locally);

}  // namespace portal::userdb
