#include "keyd/modes/agent_api.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include <nlohmann/json.hpp>

#include "keyd/api/request_log.h"
#include "keyd/api/server_why.h"
#include "keyd/api/router.h"
#include "keyd/api/views.h"
#include "keyd/iam/errors.h"
#include "keyd/iam/guard.h"
#include "keyd/modes/common.h"
#include "keyd/log/log.h"

namespace portal::modes {
namespace {

namespace asio = boost::asio;

nlohmann::json sync_json(const sync::SyncStatus& s, const config::Config& cfg) {
    return {{"portal_url", s.portal_url},
            {"pin", cfg.portal_pin},
            {"host_id", cfg.portal_host_id},
            {"revision", s.revision},
            {"last_sync", s.last_sync},
            {"offline_since", s.offline_since},
            {"last_error", s.last_error},
            {"rejected_answers", s.rejected_answers},
            {"host_token_refused", s.host_token_refused},
            {"members_refused", s.members_withheld}};
}

// The portal's headers a caller may need (paging, a challenge, a retry hint); never its
// hop-by-hop ones. X-Correlation-ID is ours, sent on to the portal, and set on the way out.
bool passed_back(const std::string& name) {
    static const char* const kNames[] = {"content-type", "www-authenticate", "retry-after", "link",
                                         "x-total",      "x-total-pages",    "x-page",      "x-per-page",
                                         "cache-control", "location",        "x-ratelimit-limit",
                                         "x-ratelimit-remaining", "x-ratelimit-reset"};
    for (const char* n : kNames)
        if (name == n) return true;
    return false;
}

api::Response answer_of(const sync::PortalAnswer& a, const std::string& portal_url) {
    if (a.status == 0) {
        const bool timed_out = a.error == "timed out";
        return api::error_response(iam::ApiError{
            timed_out ? 504 : 502, timed_out ? "PORTAL_TIMEOUT" : "PORTAL_UNREACHABLE",
            "the portal at " + portal_url + " did not answer (" + a.error +
                "): changes need the portal; logins here go on from the last synced state"});
    }
    api::Response r;
    r.status = static_cast<int>(a.status);
    r.body = a.body;
    for (const auto& [name, value] : a.headers)
        if (passed_back(name)) r.headers.emplace_back(name, value);
    return r;
}

}  // namespace

AgentApi::AgentApi(asio::io_context& io, const config::Config& cfg, std::filesystem::path config_path, Restart& restart,
                   sync::SyncedLoginSource& source, login::Refresher& refresher, sync::EventReporter& events,
                   sync::PortalForwarder& forwarder, const login::LoginService& login)
    : io_(io),
      cfg_(cfg),
      config_path_(std::move(config_path)),
      restart_(restart),
      source_(source),
      refresher_(refresher),
      events_(events),
      forwarder_(forwarder),
      login_(login),
      synced_iam_([&source]() -> const ipc::LoginState& { return source.synced(); },
                  [&refresher](const std::string& user_id) {
                      const auto status = refresher.status();
                      return std::none_of(status.collisions.begin(), status.collisions.end(),
                                          [&](const login::Collision& c) { return c.user_id == user_id; });
                  }),
      reads_(synced_iam_.services()) {
    reads_.keep_only([](const std::string& method, const std::string& pattern) {
        static const char* const kSynced[] = {"/v1/account", "/v1/accounts", "/v1/account/users",
                                              "/v1/account/users/{id}", "/v1/ssh_keys", "/v1/ssh_keys/{fingerprint}",
                                              "/v1/profile"};
        if (method != "GET") return false;
        for (const char* p : kSynced)
            if (pattern == p) return true;
        return false;
    });
    api::register_account_routes(reads_);
    api::register_user_routes(reads_);
    api::register_ssh_key_routes(reads_);
    api::register_profile_routes(reads_);
}

bool AgentApi::known_peer(uid_t uid) const {
    try {
        (void)synced_iam_.services().callers.principal_for_uid(uid);
        return true;
    } catch (const iam::ApiError&) {
        return false;
    }
}

api::Response AgentApi::server_status(const iam::Principal& p) const {
    // Root asks before the first sync too (the status says why there is none).
    if (p.is_system()) {
        iam::authorize({p}, iam::Operation::get_server_status);
    } else {
        const iam::Caller c = synced_iam_.services().callers.caller_in(p, std::nullopt);
        iam::authorize({p, &c}, iam::Operation::get_server_status);
    }
    const sync::SyncStatus sync = source_.status();
    auto body = api::server_json(server_status_of(refresher_.status(), cfg_), "agent");
    body["account_id"] = sync.account_id;
    body["sync"] = sync_json(sync, cfg_);
    const auto counts = events_.counts();
    body["sync"]["login_events_queued"] = counts.queued;
    body["sync"]["login_events_dropped"] = counts.dropped;
    return api::json_response(200, body);
}

api::Response AgentApi::why(const api::Request& req, const iam::Principal& p) const {
    const login::ExplainQuery q = api::why_query(req);
    const auto e = iam::explain_login(p, q, [this](const login::ExplainQuery& query) { return login_.explain(query); });
    return api::json_response(200, api::why_json(e));
}

api::Response AgentApi::leave(const iam::Principal& p) {
    iam::authorize({p}, iam::Operation::join_portal);
    leave_portal(cfg_, config_path_);
    restart_.requested = true;
    restart_.forget_synced_state = true;
    auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(200));
    t->async_wait([this, t](const boost::system::error_code&) { io_.stop(); });
    return api::json_response(200, {{"mode", "authority"},
                                    {"message", "left the portal: portal-keyd restarts as an authority; "
                                                "the portal's members are no longer users here"}});
}

api::Response AgentApi::forward(const api::Request& req, const iam::Principal& p, const std::string& correlation_id) {
    const auto token = api::bearer_token(req);
    // Signing in is the one request that carries its proof in the body (email, password).
    const bool sign_in = req.method == "POST" && req.path == "/v1/auth/sessions";
    if (!token && !sign_in)
        throw iam::ApiError::unauthorized(
            "this server follows the portal at " + cfg_.portal_url +
            ": changes are made there, with your own credential. Sign in with `portalctl login` "
            "(or set PORTAL_TOKEN to an API token) and try again");
    if (token && !sync::forwardable_credential(*token)) throw iam::ApiError::credential_not_accepted();
    iam::authorize({p}, iam::Operation::forward_to_portal);
    if (!sync::forwardable_method(req.method))
        throw iam::ApiError{405, "METHOD_NOT_ALLOWED", "only GET, POST, PUT, PATCH and DELETE go to the portal"};
    if (!sync::forwardable_target(req.target))
        throw iam::ApiError::bad_request("this request target cannot be sent to the portal (/v1/..., no . or .. segments)");
    const auto account = req.header("x-account-id");
    if (account && !sync::forwardable_header_value(*account))
        throw iam::ApiError::bad_request("X-Account-ID: not an account id");
    // A portalctl session is for the portal that made it: never sent to another one.
    if (const auto made_by = req.header("x-portal-session-for"); made_by && *made_by != cfg_.portal_url)
        throw iam::ApiError::unauthorized("your portalctl session is for " + *made_by + "; this server follows " +
                                          cfg_.portal_url + ": sign in again with `portalctl login`");

    sync::ForwardRequest f;
    f.method = req.method;
    f.target = req.target;
    f.body = req.body;
    f.credential = token.value_or("");
    f.correlation_id = correlation_id;
    f.account_id = account.value_or("");
    api::Response r;
    // The answer is made and sent on the main thread; the forwarder's thread keeps no copy of
    // `done` (its last reference, and the connection's, end on the main thread).
    r.deferred = [&forwarder = forwarder_, &io = io_, portal = cfg_.portal_url, f = std::move(f)](api::Respond done) mutable {
        forwarder.forward(std::move(f), [&io, portal, done = std::move(done)](sync::PortalAnswer a) mutable {
            asio::post(io, [portal, done = std::move(done), a = std::move(a)] {
                api::Response out = answer_of(a, portal);
                out.headers.emplace_back("x-portal", portal);
                done(std::move(out));
            });
        });
    };
    return r;
}

api::Response AgentApi::handle(const api::Request& req) {
    const bool own = req.path.starts_with("/v1/server");
    if (!own && reads_.serves(req)) return reads_.dispatch(req);
    api::RequestRecord rec = api::begin_request(req);
    api::Response resp;
    try {
        const iam::Principal p = synced_iam_.services().callers.principal_for_uid(req.peer.uid);
        if (p.user) rec.principal = p.user->id;
        if (req.path == "/v1/server" && req.method == "GET") resp = server_status(p);
        else if (req.path == "/v1/server/why" && req.method == "GET") resp = why(req, p);
        else if (req.path == "/v1/server/leave" && req.method == "POST") resp = leave(p);
        else if (req.path == "/v1/server/join" && req.method == "POST") {
            iam::authorize({p}, iam::Operation::join_portal);
            throw iam::ApiError{409, "CONFLICT", "this server already follows " + cfg_.portal_url + ": portalctl leave first"};
        } else resp = forward(req, p, rec.correlation_id);
    } catch (const iam::ApiError& e) {
        resp = api::error_response(e);
    } catch (const std::exception& e) {
        log::error("request failed", {{"correlation_id", rec.correlation_id}, {"error", e.what()}});
        resp = api::error_response(iam::ApiError{500, "INTERNAL_ERROR", "internal error"});
    }
    return api::finish_request(std::move(resp), rec);
}

}  // namespace portal::modes
