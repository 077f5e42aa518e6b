// JSON user and group records for published portal members, shared by the drop-in writer and
// the Varlink provider so both always describe a member identically.
// Format: https://systemd.io/USER_RECORD/ and https://systemd.io/GROUP_RECORD/.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "keyd/userdb/config.h"
#include "shared/ipc/login_state.h"

namespace portal::userdb {

// Deactivated members stay published, locked, until they are removed.
inline bool is_locked(const ipc::LoginMember& m) { return m.status == MemberStatus::deactivated; }

std::string home_directory(const UserdbConfig& cfg, std::string_view name);

// {userName, uid, gid (= uid: a per-user group), homeDirectory, shell, disposition, service,
// locked (only when true)}; never the privileged section.
nlohmann::json user_record(const ipc::LoginMember& m, const UserdbConfig& cfg);

// {"sshAuthorizedKeys": [...]}, or nullopt when there is nothing privileged (no keys, or a
// locked member: a deactivated member's keys are not published anywhere).
std::optional<nlohmann::json> privileged_section(const ipc::LoginMember& m);

// The provider's two texts of a member's record: dump(user_record(m, cfg)), and the same with
// "privileged": privileged_section(m) ("" when there is none). Written out directly, each
// string escaped by the JSON library, keys in the library's order: the same text without a
// tree of objects built and dumped per member (at start-up 10,000 of each; a third of the
// first refresh). userdb_provider_test checks the texts equal the dumps.
struct UserRecordTexts {
    std::string public_text, privileged_text;
};
UserRecordTexts user_record_texts(const ipc::LoginMember& m, const UserdbConfig& cfg);

// {groupName, gid, service}.
nlohmann::json group_record(std::string_view name, std::uint32_t gid, const UserdbConfig& cfg);
nlohmann::json group_record(std::string_view name, std::uint32_t gid, std::string_view service);

// The groups a published member is put in: its role's groups, plus cfg.tfa_group for members
// who must give a code (tfa_enabled). None for a locked member. Callers drop groups that do
// not resolve.
// Members who must pass the second factor: enrolled ones, and under Enforce 2FA everyone
// (those without 2FA are then refused at that step, with the message to enrol).
bool must_give_code(const ipc::LoginMember& m, const ipc::LoginState& state);
std::vector<std::string> member_groups(const ipc::LoginMember& m, const ipc::LoginState& state, const UserdbConfig& cfg);

// Compact JSON; invalid UTF-8 is replaced rather than thrown on.
std::string dump(const nlohmann::json& j);

// A service name usable as a socket file name: [A-Za-z0-9._-], 1-64 chars, not "." or "..".
bool is_valid_service_name(std::string_view service);

// systemd refuses these as user/group ids (-1, its 16-bit form, and the "reserved" range
// above INT32_MAX); uid 0 is root's.
bool is_publishable_id(std::uint32_t id);

}  // namespace portal::userdb
