// Routes requests to handlers by method and path pattern ("/v1/ssh_keys/{fingerprint}"),
// and is the one boundary where ApiError becomes the API's error object, the caller is
// identified, the correlation id is set and the request's log line is written.
#pragma once
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "keyd/api/http_types.h"
#include "keyd/api/long_polls.h"
#include "keyd/api/rate_limiter.h"
#include "keyd/iam/caller.h"
#include "keyd/iam/errors.h"
#include "keyd/iam/server_status.h"
#include "keyd/iam/services.h"

namespace portal::api {

struct Context {
    const Request& req;
    std::map<std::string, std::string> params;  // path parameters
    const iam::Services& iam;  // what the handlers call
    iam::Principal principal;

    // The caller in the account chosen by X-Account-ID (or the default one).
    iam::Caller caller() const;
    const std::string& param(const std::string& name) const { return params.at(name); }
};

using RouteHandler = std::function<Response(Context&)>;

// Budgets for HTTPS requests (rate_limiter.h); 0 = none. The local socket has none.
struct RateLimits {
    std::int64_t per_address_per_minute = 0;
    std::int64_t per_credential_per_minute = 0;
};

class Router {
public:
    explicit Router(const iam::Services& services);
    void set_rate_limits(const RateLimits& limits);
    // Registers from now on only the routes `keep` admits (an agent serves some reads itself
    // and forwards the rest: keyd/modes/agent_api.h).
    void keep_only(std::function<bool(const std::string& method, const std::string& pattern)> keep) {
        keep_ = std::move(keep);
    }
    // Whether a route matches the request's method and path (one with a malformed path too:
    // dispatch answers it 400).
    bool serves(const Request& req) const;
    void add(const std::string& method, const std::string& pattern, RouteHandler handler);
    // A route that takes its proof in the request (an enrolment token): over HTTPS it is
    // served without a Bearer credential, as the anonymous principal, which the guard admits
    // to those operations only. Fixed paths only.
    void add_public(const std::string& method, const std::string& path, RouteHandler handler);
    Response dispatch(const Request& req);

    // Every registered (method, pattern): the authorization table test walks them all.
    std::vector<std::pair<std::string, std::string>> routes() const {
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto& r : routes_) {
            std::string pattern;
            for (const auto& s : r.segments) pattern += "/" + s;
            out.emplace_back(r.method, pattern);
        }
        return out;
    }

private:
    iam::Principal authenticate(const Request& req);
    bool is_public(const Request& req) const;
    static iam::Principal anonymous(const std::string& remote_address);

    struct Route {
        std::string method;
        std::vector<std::string> segments;  // "{name}" segments capture
        RouteHandler handler;
        bool is_public = false;
    };
    iam::Services services_;
    std::vector<Route> routes_;
    std::function<bool(const std::string&, const std::string&)> keep_;
    std::unique_ptr<RateLimiter> per_address_;
    std::unique_ptr<RateLimiter> per_credential_;
};

// Registers every v1 endpoint (keyd/api/handlers/*.cpp): what the daemon serves.
void register_v1_routes(Router& r, const iam::ServerStatusService& server, LongPolls* polls = nullptr);
// One resource each (register_v1_routes calls them all).
void register_account_routes(Router& r);
void register_user_routes(Router& r);
void register_profile_routes(Router& r);
void register_ssh_key_routes(Router& r);
void register_server_routes(Router& r, const iam::ServerStatusService& server);
void register_api_token_routes(Router& r);
void register_host_routes(Router& r);
void register_session_routes(Router& r);
void register_ip_allowlist_routes(Router& r);
void register_contact_routes(Router& r);
void register_support_ticket_routes(Router& r);
void register_support_access_routes(Router& r);  // and the support staff
void register_notification_routes(Router& r);
// With `polls`, GET /v1/iam/changes?wait= waits for a change (a long-poll); without, it
// answers at once.
void register_iam_feed_routes(Router& r, LongPolls* polls);

// Helpers for handlers.
// The token of "Authorization: Bearer <token>" (RFC 6750 §2.1: the scheme in any case, one
// or more spaces). nullopt when there is no such header; "" when it is not a Bearer one.
std::optional<std::string> bearer_token(const Request& req);
Response json_response(int status, const nlohmann::json& body);
Response no_content();
// The API's error object for `e` (PORTAL.md §3), with WWW-Authenticate on 401 and Retry-After
// on 429: what the router answers, and what a deferred answer (a long-poll) answers too.
Response error_response(const iam::ApiError& e);

}  // namespace portal::api
