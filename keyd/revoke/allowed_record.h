// The members who were allowed to log in at the last refresh, kept on disk (the daemon's state
// directory, 0600) so that revocations survive a restart: a member revoked while the daemon
// was down, or between a committed change and its publication (a crash), is compared against
// this record at the next start and their sessions end. Apart from the fallback state file on
// purpose: that one is removed when it cannot be written, this one must outlive it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/ipc/login_state.h"

namespace portal::revoke {

struct AllowedMember {
    std::string user_id;
    std::string unix_name;
    std::uint32_t uid = 0;
    bool operator==(const AllowedMember&) const = default;
};

// Members check_account allows in `state`, in the state's order.
std::vector<AllowedMember> allowed_members(const ipc::LoginState& state);

// A login state in which exactly these members are allowed (the "before" of losing_access).
ipc::LoginState state_allowing(const std::vector<AllowedMember>& members);

std::string allowed_record_to_json(const std::vector<AllowedMember>& members);
// Strict: {"version":1,"members":[{"user_id":..,"unix_name":..,"uid":..}]}, no other fields;
// `error` names the offending field.
std::optional<std::vector<AllowedMember>> allowed_record_from_json(std::string_view text, std::string& error);

// Reads the record: nullopt with an empty error when there is none, with an error when it is
// unreadable or invalid (not owned by our euid, or writable by group or others, counts as invalid).
std::optional<std::vector<AllowedMember>> read_allowed_record(const std::string& path, std::string& error);
// Atomic replace, 0600.
bool write_allowed_record(const std::string& path, const std::vector<AllowedMember>& members, std::string& error);

}  // namespace portal::revoke
