// Configuration of the userdb publication: portal members as Unix users through systemd's
// userdb (drop-in files in /run/userdb, a Varlink provider in /run/systemd/userdb).
// See /work/shared/DESIGN.md ("Identity through systemd's userdb").
#pragma once
#include <cstdint>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "shared/model.h"

namespace portal::userdb {

struct UserdbConfig {
    // [users] uid_min..uid_max: a member whose uid is outside is not published (an agent takes
    // uids from its portal; pam_portal.so treats uids outside the range as not ours). 0, 0: no
    // range (tests).
    std::uint32_t uid_min = 0;
    std::uint32_t uid_max = 0;
    std::filesystem::path dropin_directory = "/run/userdb";
    std::filesystem::path socket_directory = "/run/systemd/userdb";
    std::string service = "io.portal.keyd";  // record "service" field and socket name
    // Local groups a role puts its members in (must exist locally; missing ones are skipped
    // with a warning).
    std::map<Role, std::vector<std::string>> role_groups = {{Role::owner, {"sudo"}}};
    std::string tfa_group = "portal-2fa";
    gid_t tfa_group_gid = 59990;  // used only if the group does not exist locally: then the
                                  // provider serves its group record
    std::string home_base = "/home";
    std::string shell = "/bin/bash";
    // Which members get drop-ins (identities that resolve while the daemon is down): the
    // dropin_members who logged in on this machine most recently, within dropin_max_age.
    // Everyone published resolves through the provider while the daemon runs. Every drop-in
    // slows every NSS group look-up on the machine down (see userdb.h).
    std::size_t dropin_members = 1000;
    std::chrono::seconds dropin_max_age{30 * 86400};
};

// Adds cfg.service to SYSTEMD_BYPASS_USERDB (a ':'-separated list) unless it is already
// there, so that this process's own getpwnam() & co never ask our provider (a single-threaded
// provider asking itself would stall every lookup). Changes the environment: call it before
// other threads start. local_name_check(), local_id_check() and Provider call it too (no-op
// once set).
void ensure_userdb_bypass(const UserdbConfig& cfg);

}  // namespace portal::userdb
