// One login state member as JSON, for the formats that carry members (the login state, the
// state directory's entries, the IAM feed's changes): one writer and one strict reader.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "shared/ipc/login_state.h"

namespace portal::ipc {

nlohmann::json member_json(const LoginMember& m);
// Strict (every field with its type, nothing unknown); errors name the field under `path`.
bool parse_member(const nlohmann::json& j, std::string path, LoginMember& m, std::string& error);

}  // namespace portal::ipc
