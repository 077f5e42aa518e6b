#include "keyd/api/router.h"
#include "keyd/api/percent_encoding.h"
#include "keyd/api/request_log.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <string_view>

#include "keyd/iam/errors.h"
#include "keyd/log/log.h"
#include "shared/random.h"

namespace portal::api {
namespace {

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        auto j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        out.push_back(path.substr(i, j - i));
        i = j;
    }
    return out;
}

// The request's raw path in segments, each decoded after splitting: an encoded "/" is data
// inside its segment and never a separator. A malformed escape is a 400.
std::vector<std::string> decoded_segments(const std::string& raw_path) {
    std::vector<std::string> out = split_path(raw_path);
    for (auto& seg : out) {
        std::string decoded;
        if (!percent_decode(seg, false, decoded)) throw iam::ApiError::bad_request("invalid request target");
        seg = std::move(decoded);
    }
    return out;
}

}  // namespace

std::optional<std::string> bearer_token(const Request& req) {
    const auto auth = req.header("authorization");
    if (!auth) return std::nullopt;
    std::string_view v = *auth;
    constexpr std::string_view kScheme = "bearer ";
    if (v.size() > 1024 || v.size() <= kScheme.size()) return std::string();
    for (std::size_t i = 0; i < kScheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(v[i])) != kScheme[i]) return std::string();
    v.remove_prefix(kScheme.size());
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return std::string(v);
}

Response json_response(int status, const nlohmann::json& body) {
    Response r;
    r.status = status;
    r.headers.emplace_back("content-type", "application/json");
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}

Response no_content() {
    Response r;
    r.status = 204;
    return r;
}

Response error_response(const iam::ApiError& e) {
    nlohmann::json body{{"code", e.code}, {"message", e.what()}};
    if (!e.errors.empty()) body["errors"] = e.errors;
    Response r = json_response(e.status, body);
    // RFC 6750 §3: a request without a credential gets the bare challenge; one with a
    // credential that is not accepted gets error="invalid_token".
    if (e.status == 401)
        r.headers.emplace_back("www-authenticate", e.credential_rejected
                                                       ? "Bearer realm=\"portal-keyd\", error=\"invalid_token\""
                                                       : "Bearer realm=\"portal-keyd\"");
    if (e.retry_after_seconds) r.headers.emplace_back("retry-after", std::to_string(*e.retry_after_seconds));
    return r;
}

iam::Caller Context::caller() const { return iam.callers.caller_in(principal, req.header("x-account-id")); }

Router::Router(const iam::Services& services) : services_(services) {}

void Router::set_rate_limits(const RateLimits& limits) {
    per_address_.reset();
    per_credential_.reset();
    if (limits.per_address_per_minute > 0) per_address_ = std::make_unique<RateLimiter>(limits.per_address_per_minute);
    if (limits.per_credential_per_minute > 0)
        per_credential_ = std::make_unique<RateLimiter>(limits.per_credential_per_minute);
}

namespace {

// Refuses a request over its budget: 429 with Retry-After (the window's end).
void check_budget(const RateDecision& d, const char* whose) {
    if (!d.allowed)
        throw iam::ApiError::too_many(std::string("too many requests ") + whose + ": try again in " +
                                          std::to_string(d.reset_seconds) + " s",
                                      d.reset_seconds);
}

}  // namespace

bool Router::is_public(const Request& req) const {
    const auto segs = split_path(req.path);
    for (const auto& r : routes_)
        if (r.is_public && r.method == req.method && r.segments == segs) return true;
    return false;
}

iam::Principal Router::anonymous(const std::string& remote_address) {
    iam::Principal p;
    p.kind = iam::Principal::Kind::anonymous;
    p.credential = iam::Credential::none;
    p.remote_address = remote_address;
    return p;
}

// The caller of an HTTPS request: whoever its Bearer credential names (the local socket's
// peer uid means nothing over TCP).
iam::Principal Router::authenticate(const Request& req) {
    const auto token = bearer_token(req);
    if (!token) throw iam::ApiError::unauthorized("authentication required: send Authorization: Bearer <token>");
    if (token->empty()) throw iam::ApiError::credential_not_accepted();
    return services_.callers.principal_for_token(*token, req.remote_address);
}

void Router::add(const std::string& method, const std::string& pattern, RouteHandler handler) {
    if (keep_ && !keep_(method, pattern)) return;
    routes_.push_back({method, split_path(pattern), std::move(handler), false});
}

void Router::add_public(const std::string& method, const std::string& path, RouteHandler handler) {
    if (keep_ && !keep_(method, path)) return;
    routes_.push_back({method, split_path(path), std::move(handler), true});
}

namespace {

bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& segs,
             std::map<std::string, std::string>* params) {
    if (pattern.size() != segs.size()) return false;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        const auto& s = pattern[i];
        if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
            if (params) (*params)[s.substr(1, s.size() - 2)] = segs[i];
        } else if (s != segs[i]) {
            return false;
        }
    }
    return true;
}

}  // namespace

bool Router::serves(const Request& req) const {
    std::vector<std::string> segs;
    try {
        segs = decoded_segments(req.path);
    } catch (const iam::ApiError&) {
        return true;
    }
    return std::any_of(routes_.begin(), routes_.end(),
                       [&](const Route& r) { return r.method == req.method && matches(r.segments, segs, nullptr); });
}

Response Router::dispatch(const Request& req) {
    RequestRecord rec = begin_request(req);
    Response resp;
    const bool https = req.transport == Transport::https;
    std::optional<RateDecision>& budget = rec.budget;  // the tighter of the budgets this request counted against
    std::string& principal = rec.principal;
    try {
        // Who asks comes first: a uid that is not a portal user, or a request without a
        // valid credential, learns nothing about which paths or methods exist (403 or 401
        // everywhere, never 404 or 405).
        // Over HTTPS the address pays first (guessing credentials costs the guesser), then the
        // credential (shared by every address it is used from).
        if (https && per_address_) {
            budget = per_address_->take(req.remote_address);
            check_budget(*budget, "from this address");
        }
        iam::Principal caller_principal;
        if (!https) caller_principal = services_.callers.principal_for_uid(req.peer.uid);
        else if (is_public(req)) caller_principal = anonymous(req.remote_address);
        else caller_principal = authenticate(req);
        if (https && per_credential_ && !caller_principal.credential_id.empty()) {
            const RateDecision d = per_credential_->take(caller_principal.credential_id);
            if (!budget || d.remaining < budget->remaining) budget = d;
            check_budget(d, "with this credential");
        }
        if (caller_principal.user) principal = caller_principal.user->id;
        if (!caller_principal.credential_id.empty()) principal += " via " + caller_principal.credential_id;
        const auto segs = decoded_segments(req.path);
        const Route* match = nullptr;
        bool path_known = false;
        std::map<std::string, std::string> params;
        for (const auto& r : routes_) {
            std::map<std::string, std::string> p;
            if (!matches(r.segments, segs, &p)) continue;
            path_known = true;
            if (r.method == req.method) {
                match = &r;
                params = std::move(p);
                break;
            }
        }
        if (!match && path_known) throw iam::ApiError{405, "METHOD_NOT_ALLOWED", "method not allowed on this path"};
        if (!match) throw iam::ApiError::not_found("no such endpoint");
        Context ctx{req, std::move(params), services_, std::move(caller_principal)};
        resp = match->handler(ctx);
    } catch (const iam::ApiError& e) {
        resp = error_response(e);
    } catch (const std::exception& e) {
        log::error("request failed", {{"correlation_id", rec.correlation_id}, {"error", e.what()}});
        resp = error_response(iam::ApiError{500, "INTERNAL_ERROR", "internal error"});
    }
    return finish_request(std::move(resp), rec);
}

}  // namespace portal::api
