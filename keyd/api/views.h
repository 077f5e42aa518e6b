// JSON shapes of the API's objects (docs/API.md). One function per resource.
#pragma once
#include <nlohmann/json.hpp>

#include "shared/model.h"

namespace portal::api {

nlohmann::json account_json(const Account& a);
nlohmann::json account_membership_json(const Account& a, Role r);
nlohmann::json user_json(const AccountUser& au);
nlohmann::json ssh_key_json(const SshKey& k);

}  // namespace portal::api
