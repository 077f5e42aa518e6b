// The machine's own users and groups, as publication planning asks about them: is this name
// or id taken by anything that is not one of our own records (local_name_check,
// local_id_check), and do the groups roles map to exist (local_group_exists).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>

#include "keyd/userdb/config.h"

namespace portal::userdb {

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

// A number that moves whenever the checks above may answer differently than before: a
// re-read of the local accounts found a difference, a change was told, remembered NSS answers
// aged out. The checks re-read lazily, when asked: ask each once (any name or id) before
// reading this. Equal numbers: the same answers (what a plan carried over stays right).
std::uint64_t local_accounts_generation();

// Makes every check above re-read /etc/passwd and /etc/group at its next call (they are
// otherwise looked at once a second at most): LocalAccountsWatch calls it when they change.
void local_accounts_changed();

// Whether a group of that name / gid resolves on this machine other than through our
// provider (NSS with the bypass above; our own drop-ins hold only per-user groups).
bool local_group_exists(const UserdbConfig& cfg, std::string_view name);
bool local_gid_exists(const UserdbConfig& cfg, std::uint32_t gid);

}  // namespace portal::userdb
