// Which portal members become Unix users (plan_publication) and the checks against the
// machine's own users and groups (local_name_check, local_id_check).
#pragma once
#include <cstdint>
#include <filesystem>
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

// Whether every source nsswitch.conf names for passwd and group can list its accounts: only
// "files" and "systemd" (a missing file means files). Then the checks below list the local
// accounts instead of asking about each name and id.
bool nss_sources_enumerable(const std::filesystem::path& nsswitch_conf);

// The real checks: a user or group of that name / id that is not one of our own records.
// /etc/passwd and /etc/group are read directly (re-read when they change); other sources
// through NSS with SYSTEMD_BYPASS_USERDB=<service> (set by these functions if missing), which
// hides our provider but not our drop-ins: nss-systemd reads /run/userdb in-process whatever
// the bypass says (checked on Debian 12, systemd 252). With enumerable sources (above) NSS is
// listed (setpwent/setgrent) once a minute or when told of a change, minus our own drop-ins:
// the cost follows the machine's own accounts, not the portal's members. Otherwise NSS is
// asked about each name and id with no drop-in of ours (answers kept a minute).
// Not thread-safe (a cache of the /etc files); each returned function has its own.
std::function<bool(std::string_view)> local_name_check(const UserdbConfig& cfg);
std::function<bool(std::uint32_t)> local_id_check(const UserdbConfig& cfg);

// Makes every check above re-read /etc/passwd and /etc/group at its next call (they are
// otherwise looked at once a second at most): LocalAccountsWatch calls it when they change.
void local_accounts_changed();

// Whether a group of that name / gid resolves on this machine other than through our
// provider (NSS with the bypass above; our own drop-ins hold only per-user groups).
bool local_group_exists(const UserdbConfig& cfg, std::string_view name);
bool local_gid_exists(const UserdbConfig& cfg, std::uint32_t gid);

}  // namespace portal::userdb
