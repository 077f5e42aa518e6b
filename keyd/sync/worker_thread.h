// A thread of the agent's network work (sync, login event reports): never the login thread,
// never the main one. It hands results to the main thread and waits for them to be taken
// (on_main), sleeps interruptibly, and backs off with full jitter after failures.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace boost::asio {
class io_context;
}

namespace portal::sync {

class WorkerThread {
public:
    WorkerThread(boost::asio::io_context& main, std::string name);
    ~WorkerThread();  // stop() and join()
    WorkerThread(const WorkerThread&) = delete;
    WorkerThread& operator=(const WorkerThread&) = delete;

    void start(std::function<void()> body);  // an exception is logged and the body starts again
    void stop();                             // any thread: stopping() from now on, sleeps end
    void join();
    bool stopping() const;
    void wake();  // ends the current sleep_for early

    // Runs `task` on the main thread and waits for it; false when stopping meanwhile. An
    // exception in `task` is logged there (whatever it was to set stays as it was).
    bool on_main(std::function<void()> task);
    void sleep_for(std::chrono::milliseconds d);

private:
    boost::asio::io_context& main_;
    std::string name_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    bool woken_ = false;
    std::thread thread_;
};

// A random wait in [0, min(max, min_wait * 2^attempt)] (full jitter: a fleet that lost its
// portal at once does not come back at once); at least the portal's Retry-After (capped at an
// hour) when it sent one.
std::chrono::milliseconds full_jitter_backoff(unsigned attempt, std::chrono::milliseconds min_wait,
                                              std::chrono::milliseconds max_wait,
                                              std::optional<std::int64_t> retry_after_seconds);

}  // namespace portal::sync
