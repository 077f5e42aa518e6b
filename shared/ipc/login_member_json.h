// One login state member as JSON, for the formats that carry members (the login state, the
// state directory's entries, the IAM feed's changes): one writer and one strict reader.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "shared/ipc/login_state.h"
#include "shared/ipc/member_profile.h"

namespace portal::ipc {

nlohmann::json member_json(const LoginMember& m);
// Strict (every field with its type, nothing unknown); errors name the field under `path`.
bool parse_member(const nlohmann::json& j, std::string path, LoginMember& m, std::string& error);

// A member's profile (member_profile.h) inside the member's "profile" field.
nlohmann::json profile_json(const MemberProfile& p);
// What LoginMember::profile holds for `p`.
std::shared_ptr<const std::string> profile_text(const MemberProfile& p);
// The member's profile; nullopt when they have none.
std::optional<MemberProfile> read_profile(const LoginMember& m);
// Strict (every field with its type and a bounded size, nothing unknown); errors name the
// field under `path`.
bool parse_profile(const nlohmann::json& j, std::string path, MemberProfile& p, std::string& error);

}  // namespace portal::ipc
