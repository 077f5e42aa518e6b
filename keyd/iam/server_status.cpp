#include "keyd/iam/server_status.h"

#include "keyd/iam/errors.h"
#include "keyd/iam/guard.h"

namespace portal::iam {

ServerStatus ServerStatusService::get(const Caller& c) const {
    authorize({c.principal, &c}, Operation::get_server_status);
    ServerStatus s = source_ ? source_() : ServerStatus{};
    if (!s.account_id.empty() && s.account_id != c.account.id)
        throw ApiError::not_found("this server's logins follow another account");
    return s;
}

}  // namespace portal::iam
