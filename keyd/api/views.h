// JSON shapes of the API's objects (docs/API.md). One function per resource.
#pragma once
#include <nlohmann/json.hpp>

#include "keyd/iam/invitation_service.h"
#include "keyd/iam/server_status.h"
#include "shared/model.h"

namespace portal::api {

nlohmann::json account_json(const Account& a);
nlohmann::json account_membership_json(const Account& a, Role r);
// A member whose person record the caller may not see (the service left unix_name empty):
// {id,email,role,status,created_at,updated_at} of the membership only.
nlohmann::json user_json(const AccountUser& au);
nlohmann::json invitation_json(const iam::Invitation& i);
nlohmann::json ssh_key_json(const SshKey& k);
// Everything but the secret, which only the create response carries.
nlohmann::json api_token_json(const ApiToken& t);
nlohmann::json host_json(const Host& h);
nlohmann::json login_event_json(const LoginEvent& e);
// GET /v1/server: {mode, account_id, revision, state_file, collisions, https}; an agent adds "sync".
nlohmann::json server_json(const iam::ServerStatus& s, const char* mode);

}  // namespace portal::api
