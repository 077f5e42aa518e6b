#include "keyd/sync/remote_code_verifier.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "keyd/log/log.h"

namespace portal::sync {
namespace {

constexpr std::size_t kMaxQueued = 256;  // more waiting checks than that: refused at once

ipc::VerifyCodeReply unavailable() {
    ipc::VerifyCodeReply r;
    r.portal_user = true;
    r.result = ipc::VerifyResult::unavailable;
    return r;
}

}  // namespace

RemoteCodeVerifier::RemoteCodeVerifier(PortalEndpoint endpoint, std::string hostname, std::chrono::milliseconds timeout)
    : client_(std::move(endpoint)), hostname_(std::move(hostname)), timeout_(timeout), worker_([this] { run(); }) {}

RemoteCodeVerifier::~RemoteCodeVerifier() { stop(); }

void RemoteCodeVerifier::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        jobs_.clear();
    }
    cv_.notify_all();
    client_.stop();
    if (worker_.joinable()) worker_.join();
}

ipc::VerifyCodeReply RemoteCodeVerifier::verify(const ipc::LoginMember& member, const ipc::VerifyCodeRequest& r,
                                                std::string& reason) {
    Job job{member.user_id, member.unix_name, r.code, r.rhost, std::chrono::steady_clock::now(), {}};
    return ask(job, reason);
}

void RemoteCodeVerifier::verify_async(const ipc::LoginMember& member, const ipc::VerifyCodeRequest& r, Done done) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_ && jobs_.size() < kMaxQueued) {
            jobs_.push_back(Job{member.user_id, member.unix_name, r.code, r.rhost, std::chrono::steady_clock::now(),
                                std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    done(unavailable(), "too_many_pending_checks");
}

void RemoteCodeVerifier::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        std::string reason;
        ipc::VerifyCodeReply reply;
        if (std::chrono::steady_clock::now() - job.queued > timeout_) {
            reason = "portal_unreachable";  // waited behind checks the portal did not answer
            reply = unavailable();
        } else {
            try {
                reply = ask(job, reason);
            } catch (const std::exception& e) {
                reason = "check_failed";
                reply = unavailable();
                log::error("login: a verification code check failed", {{"user", job.unix_name}, {"error", e.what()}});
            }
        }
        std::fill(job.code.begin(), job.code.end(), '\0');
        {
            // Stopping: whoever `done` reaches may be going; the daemon is exiting anyway.
            std::lock_guard lock(mu_);
            if (stopping_) return;
        }
        try {
            job.done(reply, reason);
        } catch (const std::exception& e) {
            log::error("login: answering a verification code check failed", {{"user", job.unix_name}, {"error", e.what()}});
        }
    }
}

ipc::VerifyCodeReply RemoteCodeVerifier::ask(const Job& job, std::string& reason) {
    ipc::VerifyCodeReply reply = unavailable();
    PortalClient::Request req;
    req.method = "POST";
    req.target = "/v1/iam/tfa/verify";
    req.timeout = timeout_;
    req.max_answer_bytes = 4096;
    req.body = nlohmann::json{{"user_id", job.user_id}, {"code", job.code}, {"host", hostname_}, {"ip", job.rhost}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    PortalAnswer a;
    {
        std::lock_guard lock(client_mu_);
        a = client_.perform(req);
    }
    std::fill(req.body.begin(), req.body.end(), '\0');
    if (a.status != 200) {
        reason = a.status == 0 ? "portal_unreachable" : "portal_refused";
        log::warning("login: the portal cannot check a verification code now",
                     {{"user", job.unix_name}, {"error", a.status == 0 ? a.error : "HTTP " + std::to_string(a.status)}});
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
