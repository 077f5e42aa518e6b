// Agent mode: what the local API does not answer from the synced state (writes, and reads of
// what is not synced) goes to the portal with the caller's own credential (PORTAL.md §5),
// never with the host token: root on one server must not become an owner of the whole
// account. The forwarder only carries requests; the portal authenticates and authorizes them.
// Requests run on a few threads of their own, each with its own kept-alive connection, each
// bounded by the request timeout; a full queue is refused at once. Nothing here ever runs on,
// or waits for, the login path.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "keyd/sync/portal_client.h"

namespace portal::sync {

struct ForwardRequest {
    std::string method;          // as the caller sent it
    std::string target;          // "/v1/..." with its query, as the caller sent it
    std::string body;
    std::string credential;      // the caller's Bearer token ("" only for sign-in)
    std::string correlation_id;  // sent on, so both daemons' log lines carry the same id
    std::string account_id;      // X-Account-ID, or ""
};

// A target the forwarder may append to the portal's URL: "/v1/" then visible ASCII only (no
// space, no '#', no backslash) and no "." or ".." segment, so that it can never name another
// host or path outside /v1/, nor smuggle a header.
bool forwardable_target(const std::string& target);
// GET, POST, PUT, PATCH, DELETE: what the API has (HEAD, say, would leave curl waiting for a
// body that never comes).
bool forwardable_method(const std::string& method);
// A header value sent on as it is (X-Account-ID, X-Correlation-ID): visible ASCII, at most 128.
bool forwardable_header_value(const std::string& value);
// A Bearer token as the portal issues them: [A-Za-z0-9_-], at most 256 characters.
bool forwardable_credential(const std::string& token);

class PortalForwarder {
public:
    // Called on a forwarder thread with the portal's answer (status 0: none; `error` says why).
    using Done = std::function<void(PortalAnswer)>;

    // `endpoint.token` is ignored: the caller's credential is the only one sent.
    PortalForwarder(PortalEndpoint endpoint, std::chrono::milliseconds timeout, std::size_t threads = 2);
    ~PortalForwarder();  // stop()
    PortalForwarder(const PortalForwarder&) = delete;
    PortalForwarder& operator=(const PortalForwarder&) = delete;

    // Queues `r`; `done` runs once, later, on a forwarder thread (a full queue: at once, here,
    // with status 0); it should move what it holds on to another thread rather than copy it.
    // Throws std::invalid_argument for a method, target, credential or header that is not
    // forwardable (the caller checks them first).
    void forward(ForwardRequest r, Done done);
    // Ends requests in progress and drops queued ones without calling their `done`. Idempotent.
    void stop();

    static constexpr std::size_t kMaxQueued = 64;
    static constexpr std::size_t kMaxAnswerBytes = 16u << 20;

private:
    struct Job {
        ForwardRequest request;
        Done done;
    };
    void run(PortalClient& client);

    PortalEndpoint endpoint_;
    std::chrono::milliseconds timeout_;
    std::vector<std::unique_ptr<PortalClient>> clients_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};

}  // namespace portal::sync
