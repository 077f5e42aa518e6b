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
    std::size_t carried = 0;            // members whose verdict came from the basis (below)
    bool shared = false;                // a name or uid was held by more than one member
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
//
// With `basis` (the previous plan, made with the same cfg and with checks whose answers have
// not changed since: see local_accounts_generation()), a member whose name, uid, user id,
// status, role, 2FA and access window are as in the previous plan keeps its verdict
// (published, or refused and why) instead of being judged again: a change costs the names
// compared, not the checks. Not for support staff (their window ends with the clock), and
// not at all when the account's rules differ (Enforce 2FA, the login roles), a name or uid is
// held twice now or was in the previous plan, or either state is out of name order: then
// every member is judged.
struct PlanBasis {
    const ipc::LoginState& planned;       // what the previous plan returned
    const std::vector<Refusal>& refused;  // and its refusals
    bool shared = false;                  // and its `shared` (its verdicts then depend on others)
};
PublishPlan plan_publication(ipc::LoginState state, const UserdbConfig& cfg,
                             const std::function<bool(std::string_view)>& name_taken_locally,
                             const std::function<bool(std::uint32_t)>& id_taken_locally,
                             const PlanBasis* basis = nullptr);

}  // namespace portal::userdb
