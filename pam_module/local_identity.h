// What this machine says about a login name (NSS, as sshd and sudo see it), and the
// decision "not a portal user" made from that alone, without asking portal-keyd: root,
// names a portal member can never have, and uids outside the portal range are never ours,
// so local logins pay no socket round trip and never depend on the daemon
// (pam_systemd_home's "not mine before any IPC"). Shared by pam_portal.so and the keys helper.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portal::login_path {

// The uids portal-keyd gives its members: keep equal to the daemon's [users] uid_min/uid_max
// (defaults 200000-299999; pam_portal.so's uid_min=/uid_max= arguments otherwise).
struct UidRange {
    std::uint32_t min = 200000;
    std::uint32_t max = 299999;
    bool contains(std::uint32_t uid) const { return uid >= min && uid <= max; }
};

// getpwnam_r's answer: found (with the uid), definitely not found, or no answer (an NSS
// error: nothing can be concluded from it).
struct Resolution {
    enum class Status { found, not_found, error } status = Status::error;
    uid_t uid = 0;
    bool found() const { return status == Status::found; }
};
Resolution resolve_user(const std::string& name);

// Why `name` is certainly not a portal member, or nullopt when it may be one (then only the
// daemon, or its state file, can tell). A name that does not resolve is not decided here: the
// daemon is authoritative for names NSS cannot answer for.
std::optional<std::string_view> not_ours_without_ipc(std::string_view name, const Resolution& local,
                                                     const UidRange& range);

}  // namespace portal::login_path
