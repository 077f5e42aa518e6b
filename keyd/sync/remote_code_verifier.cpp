#include "keyd/sync/remote_code_verifier.h"

#include <nlohmann/json.hpp>

#include "keyd/log/log.h"

namespace portal::sync {

RemoteCodeVerifier::RemoteCodeVerifier(PortalEndpoint endpoint, std::string hostname, std::chrono::milliseconds timeout)
    : client_(std::move(endpoint)), hostname_(std::move(hostname)), timeout_(timeout) {}

ipc::VerifyCodeReply RemoteCodeVerifier::verify(const ipc::LoginMember& member, const ipc::VerifyCodeRequest& r,
                                                std::string& reason) {
    ipc::VerifyCodeReply reply;
    reply.portal_user = true;
    reply.result = ipc::VerifyResult::unavailable;
    PortalClient::Request req;
    req.method = "POST";
    req.target = "/v1/iam/tfa/verify";
    req.timeout = timeout_;
    req.max_answer_bytes = 4096;
    req.body = nlohmann::json{{"user_id", member.user_id}, {"code", r.code}, {"host", hostname_}, {"ip", r.rhost}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    PortalAnswer a;
    {
        std::lock_guard lock(mu_);
        a = client_.perform(req);
    }
    if (a.status != 200) {
        reason = a.status == 0 ? "portal_unreachable" : "portal_refused";
        log::warning("login: the portal cannot check a verification code now",
                     {{"user", member.unix_name}, {"error", a.status == 0 ? a.error : "HTTP " + std::to_string(a.status)}});
        return reply;
    }
    const auto j = nlohmann::json::parse(a.body, nullptr, false);
    const auto result = j.is_object() && j.contains("result") && j["result"].is_string() ? j["result"].get<std::string>()
                                                                                          : std::string();
    if (result == "ok") reply.result = ipc::VerifyResult::ok;
    else if (result == "wrong_code" || result == "not_active") reply.result = ipc::VerifyResult::wrong_code;
    else if (result == "not_enrolled") reply.result = ipc::VerifyResult::not_enrolled;
    else if (result == "locked") {
        reply.result = ipc::VerifyResult::locked;
        if (j.contains("retry_after") && j["retry_after"].is_number_integer())
            reply.retry_after = std::clamp<std::int64_t>(j["retry_after"].get<std::int64_t>(), 0, 86400);
    } else {
        reason = "portal_answer_malformed";
        return reply;  // unavailable
    }
    if (result == "not_active") reason = "not_active";
    return reply;
}

}  // namespace portal::sync
