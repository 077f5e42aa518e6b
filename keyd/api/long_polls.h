// Requests that wait for the IAM state to change (GET /v1/iam/changes?wait=), like Consul's
// blocking queries: each waiter says when it is satisfied; notify() (after every committed
// write) asks them, and a waiter that is still not satisfied at its deadline is answered as
// it stands. Everything runs on the io_context's thread.
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace portal::api {

class LongPolls {
public:
    explicit LongPolls(boost::asio::io_context& io);
    ~LongPolls();  // pending waiters are answered as timed out
    LongPolls(const LongPolls&) = delete;
    LongPolls& operator=(const LongPolls&) = delete;

    // `ready` is asked at each notify(); when it says true, or `max` has passed, `done` runs
    // once (with timed_out = !ready). Call on the io thread.
    void wait(std::chrono::milliseconds max, std::function<bool()> ready, std::function<void(bool timed_out)> done);
    // Something changed: asks every waiter, on the io thread (callable from any thread).
    void notify();
    std::size_t waiting() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace portal::api
