// What this server does with the account: the login state it serves, the fallback state
// file, and the members it could not publish (a local account holds their name or uid).
// The numbers come from the login path (keyd/login/refresher.h) through a callback, so the
// API does not depend on it; the guard decides who may read them.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "keyd/iam/caller.h"
#include "keyd/iam/errors.h"
#include "keyd/login/explanation.h"

namespace portal::iam {

struct ServerCollision {
    std::string user_id, unix_name, reason;
    std::uint32_t uid = 0;
};

struct ServerStatus {
    std::string account_id;       // the account whose members log in here
    std::uint64_t revision = 0;   // of the login state served
    bool state_file_current = false;
    std::string state_file_error;  // "" unless the last write failed
    std::vector<ServerCollision> collisions;
    // The HTTPS listener (empty when off): where it listens and its certificate's pin.
    std::vector<std::string> https_endpoints;
    std::string https_pin;
    std::string https_error;  // configured, but it could not start
    // Where members' homes are and the uids they have ([users], [userdb] home_base): what
    // `portalctl homes` scans (the daemon itself cannot see /home: ProtectHome).
    std::string home_base;
    std::uint32_t uid_min = 0, uid_max = 0;
};

// portalctl join: this server becomes an agent of the portal at `url` (PORTAL.md §5).
struct JoinRequest {
    std::string url;              // https://host[:port]
    std::string enrolment_token;  // pk_enrol_..., one use
    std::string pin;              // sha256//..., or
    std::string ca_file;          // an absolute path to a CA bundle
    bool discard_local_accounts = false;  // this server's own accounts are set aside
};
struct JoinOutcome {
    std::string host_id;                 // on success
    std::optional<ApiError> error;       // else why not
};

// The login rules' explanation for a query (LoginService::explain), on the caller's thread.
using LoginExplainer = std::function<login::Explanation(const login::ExplainQuery&)>;

// GET /v1/server/why, in both modes: `explain` runs once the asker passed the guard's rules
// that do not depend on the member (explain_login), and the answer is returned only to root
// or to the member themself (403 otherwise, also for names that are nobody's).
login::Explanation explain_login(const Principal& p, const login::ExplainQuery& q, const LoginExplainer& explain);

class ServerStatusService {
public:
    using Source = std::function<ServerStatus()>;
    using Done = std::function<void(JoinOutcome)>;
    // Checks the request, registers at the portal off the main thread, calls `done` on it.
    using Joiner = std::function<void(JoinRequest, Done)>;
    explicit ServerStatusService(Source source, Joiner joiner = {}, LoginExplainer explainer = {})
        : source_(std::move(source)), joiner_(std::move(joiner)), explainer_(std::move(explainer)) {}
    // 404 when the caller's account is not the one this server serves (its members are not
    // users here, and another account's details are not the caller's business).
    ServerStatus get(const Caller& c) const;
    // Root on the socket only (the guard's join_portal); called before the body is read.
    void authorize_join(const Principal& p) const;
    void join(const Principal& p, JoinRequest r, Done done) const;
    // explain_login with this server's login path.
    login::Explanation why(const Principal& p, const login::ExplainQuery& q) const;

private:
    Source source_;
    Joiner joiner_;
    LoginExplainer explainer_;
};

}  // namespace portal::iam
