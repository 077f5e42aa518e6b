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

login::Explanation explain_login(const Principal& p, const login::ExplainQuery& q, const LoginExplainer& explain) {
    if (!explain) throw ApiError{409, "CONFLICT", "this server has no login path to explain"};
    login::Explanation out;
    authorize({p}, Operation::explain_login, [&] {
        out = explain(q);
        Subject s;
        if (out.member) s.user_id = out.member->user_id;
        return s;
    });
    return out;
}

login::Explanation ServerStatusService::why(const Principal& p, const login::ExplainQuery& q) const {
    return explain_login(p, q, explainer_);
}

void ServerStatusService::authorize_join(const Principal& p) const { authorize({p}, Operation::join_portal); }

void ServerStatusService::join(const Principal& p, JoinRequest r, Done done) const {
    authorize_join(p);
    if (!joiner_) throw ApiError{409, "CONFLICT", "this server cannot join a portal in its present mode"};
    joiner_(std::move(r), std::move(done));
}

}  // namespace portal::iam
