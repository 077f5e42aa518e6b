// How a socket peer becomes a Principal, and a Principal a Caller in one account.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>

#include "keyd/iam/caller.h"

namespace portal::iam {

class CallerDirectory {
public:
    virtual ~CallerDirectory() = default;

    // Resolves the socket peer (and the X-Account-ID header, if any) to a caller.
    virtual Principal principal_for_uid(uid_t uid) = 0;
    // The user a Bearer credential (the header's token, scheme removed) acts as. 401
    // (ApiError::credential_not_accepted) for an unknown, expired or revoked one, and for a
    // user with no active membership left (deactivated or removed everywhere).
    // `remote_address`: where the request came from (a session is bound to the allowlist).
    virtual Principal principal_for_token(const std::string& token, const std::string& remote_address) = 0;
    virtual Caller caller_in(const Principal& p, const std::optional<std::string>& account_id) = 0;
};

}  // namespace portal::iam
