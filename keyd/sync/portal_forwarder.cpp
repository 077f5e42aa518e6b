#include "keyd/sync/portal_forwarder.h"

#include <algorithm>
#include <string_view>
#include <stdexcept>

#include "keyd/log/log.h"

namespace portal::sync {

bool forwardable_target(const std::string& target) {
    if (!target.starts_with("/v1/") || target.size() > 8192) return false;
    if (!std::all_of(target.begin(), target.end(),
                     [](char c) { return c > 0x20 && c < 0x7f && c != '#' && c != '\\'; }))
        return false;
    const std::string path = target.substr(0, target.find('?'));
    for (std::size_t i = 0; i < path.size();) {
        const std::size_t end = std::min(path.find('/', i), path.size());
        const std::string_view segment(path.data() + i, end - i);
        if (segment == "." || segment == "..") return false;
        i = end + 1;
    }
    return true;
}

bool forwardable_method(const std::string& method) {
    return method == "GET" || method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

bool forwardable_header_value(const std::string& v) {
    return !v.empty() && v.size() <= 128 && std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool forwardable_credential(const std::string& token) {
    if (token.empty() || token.size() > 256) return false;
    return std::all_of(token.begin(), token.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

PortalForwarder::PortalForwarder(PortalEndpoint endpoint, std::chrono::milliseconds timeout, std::size_t threads)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {
    endpoint_.token.clear();  // never the host token
    threads = std::max<std::size_t>(threads, 1);
    for (std::size_t i = 0; i < threads; ++i) clients_.push_back(std::make_unique<PortalClient>(endpoint_));
    for (auto& c : clients_) workers_.emplace_back([this, client = c.get()] { run(*client); });
}

PortalForwarder::~PortalForwarder() { stop(); }

void PortalForwarder::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        jobs_.clear();
    }
    cv_.notify_all();
    for (auto& c : clients_) c->stop();
    for (auto& w : workers_)
        if (w.joinable()) w.join();
}

void PortalForwarder::forward(ForwardRequest r, Done done) {
    if (!forwardable_method(r.method) || !forwardable_target(r.target)) throw std::invalid_argument("request not forwardable");
    if (!r.account_id.empty() && !forwardable_header_value(r.account_id)) throw std::invalid_argument("account id not forwardable");
    if (!r.credential.empty() && !forwardable_credential(r.credential))
        throw std::invalid_argument("credential not forwardable");
    {
        std::lock_guard lock(mu_);
        if (!stopping_ && jobs_.size() < kMaxQueued) {
            jobs_.push_back(Job{std::move(r), std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    PortalAnswer busy;
    busy.error = "too many requests waiting for the portal";
    done(std::move(busy));
}

void PortalForwarder::run(PortalClient& client) {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        const ForwardRequest& f = job.request;
        PortalClient::Request req;
        req.method = f.method;
        req.target = f.target;
        req.body = f.body;
        req.timeout = timeout_;
        req.max_answer_bytes = kMaxAnswerBytes;
        if (!f.credential.empty()) req.headers.push_back("Authorization: Bearer " + f.credential);
        if (forwardable_header_value(f.correlation_id)) req.headers.push_back("X-Correlation-ID: " + f.correlation_id);
        if (!f.account_id.empty()) req.headers.push_back("X-Account-ID: " + f.account_id);
        PortalAnswer answer;
        try {
            answer = client.perform(req);
        } catch (const std::exception& e) {
            answer = PortalAnswer{};
            answer.error = e.what();
        }
        // Best effort: our copies of the credential and the body (a password, a TOTP code) are
        // cleared; the HTTP layers' own buffers are not ours to clear.
        std::fill(req.headers.begin(), req.headers.end(), std::string());
        std::fill(req.body.begin(), req.body.end(), '\0');
        std::fill(job.request.body.begin(), job.request.body.end(), '\0');
        std::fill(job.request.credential.begin(), job.request.credential.end(), '\0');
        {
            std::lock_guard lock(mu_);
            if (stopping_) return;
        }
        Done done = std::move(job.done);  // called once; it moves what it holds to the main thread
        try {
            done(std::move(answer));
        } catch (const std::exception& e) {
            log::error("agent: answering a forwarded request failed", {{"error", e.what()}});
        }
    }
}

}  // namespace portal::sync
