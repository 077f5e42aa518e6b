#include "keyd/sync/worker_thread.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <algorithm>
#include <future>
#include <memory>
#include <random>

#include "keyd/log/log.h"

namespace portal::sync {

WorkerThread::WorkerThread(boost::asio::io_context& main, std::string name) : main_(main), name_(std::move(name)) {}

WorkerThread::~WorkerThread() {
    stop();
    join();
}

void WorkerThread::start(std::function<void()> body) {
    thread_ = std::thread([this, body = std::move(body)] {
        // A failure the body did not expect (memory, a library) must not leave the agent
        // silently unsynced: log it and start the body again after a pause.
        while (!stopping()) {
            try {
                body();
                return;
            } catch (const std::exception& e) {
                log::error("sync: a worker thread failed; starting it again in 5 s", {{"thread", name_}, {"error", e.what()}});
            }
            sleep_for(std::chrono::seconds(5));
        }
    });
}

void WorkerThread::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
}

void WorkerThread::join() {
    if (thread_.joinable()) thread_.join();
}

bool WorkerThread::stopping() const {
    std::lock_guard lock(mu_);
    return stopping_;
}

void WorkerThread::wake() {
    {
        std::lock_guard lock(mu_);
        woken_ = true;
    }
    cv_.notify_all();
}

bool WorkerThread::on_main(std::function<void()> task) {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    boost::asio::post(main_, [task = std::move(task), done, name = name_] {
        // Never out of io.run(): a failed task is logged, and the caller sees what it left.
        try {
            task();
        } catch (const std::exception& e) {
            log::error("sync: a task on the main thread failed", {{"thread", name}, {"error", e.what()}});
        }
        done->set_value();
    });
    while (future.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready)
        if (stopping()) return false;
    return true;
}

void WorkerThread::sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, d, [this] { return stopping_ || woken_; });
    woken_ = false;
}

std::chrono::milliseconds full_jitter_backoff(unsigned attempt, std::chrono::milliseconds min_wait,
                                              std::chrono::milliseconds max_wait,
                                              std::optional<std::int64_t> retry_after_seconds) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    const auto ceiling = std::min<std::int64_t>(max_wait.count(), min_wait.count() << std::min(attempt, 20u));
    std::uniform_int_distribution<std::int64_t> pick(0, std::max<std::int64_t>(ceiling, 1));
    std::chrono::milliseconds d(pick(rng));
    if (retry_after_seconds)
        d = std::max(d, std::chrono::milliseconds(std::min<std::int64_t>(*retry_after_seconds, 3600) * 1000));
    return d;
}

}  // namespace portal::sync
