// The agent's sync thread (never the login thread): GET /v1/iam/state (If-None-Match), then
// GET /v1/iam/changes?since=&wait= in a loop over one kept-alive TLS connection. Answers are
// parsed strictly here and handed to the main thread (SyncedLoginSource), which checks them
// against what it holds and keeps or refuses them whole; the thread waits for that verdict
// before asking again. 410 -> the state again. A failure (no answer, a status other than
// 200/304/410, a malformed, oversized or refused answer) is retried after an exponential
// backoff with full jitter (`retry_min` doubling up to `retry_max`), or after the portal's
// Retry-After when longer.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "keyd/sync/portal_client.h"
#include "keyd/sync/worker_thread.h"
#include "shared/ipc/feed_changes.h"
#include "shared/ipc/login_state.h"

namespace boost::asio {
class io_context;
}

namespace portal::sync {

class SyncedLoginSource;

struct FollowerSettings {
    PortalEndpoint endpoint;
    std::chrono::seconds wait{60};                   // each long-poll's wait=
    std::chrono::milliseconds request_timeout{10000};  // a state request; a long-poll gets wait + this
    std::chrono::milliseconds retry_min{250};
    std::chrono::milliseconds retry_max{2000};
    std::size_t max_state_bytes = 64u << 20;
    std::size_t max_changes_bytes = 16u << 20;
};

class Follower {
public:
    // `source` lives on `io`'s thread; the follower posts to it and waits for each verdict.
    Follower(boost::asio::io_context& io, SyncedLoginSource& source, FollowerSettings settings);
    ~Follower();  // stops the request in progress and joins
    Follower(const Follower&) = delete;
    Follower& operator=(const Follower&) = delete;

    void start();

private:
    void run();
    bool on_main(std::function<void()> task) { return worker_.on_main(std::move(task)); }
    void sleep_for(std::chrono::milliseconds d) { worker_.sleep_for(d); }

    SyncedLoginSource& source_;
    FollowerSettings settings_;
    PortalClient client_;
    WorkerThread worker_;
};

}  // namespace portal::sync
