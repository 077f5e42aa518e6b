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

void ServerStatusService::authorize_join(const Principal& p) const { authorize({p}, Operation::join_portal); }

void ServerStatusService::join(const Principal& p, JoinRequest r, Done done) const {
    authorize_join(p);
    if (!joiner_) throw ApiError{409, "CONFLICT", "this server cannot join a portal in its present mode"};
    joiner_(std::move(r), std::move(done));
}

}  // namespace portal::iam
