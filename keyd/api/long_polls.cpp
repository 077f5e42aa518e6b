#include "keyd/api/long_polls.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <vector>

namespace portal::api {

namespace asio = boost::asio;

struct LongPolls::Impl : std::enable_shared_from_this<LongPolls::Impl> {
    struct Waiter {
        std::function<bool()> ready;
        std::function<void(bool)> done;
        std::unique_ptr<asio::steady_timer> timer;
    };
    explicit Impl(asio::io_context& ctx) : io(ctx) {}

    // By id, not by iterator: a deadline that expired while its waiter was being answered
    // still runs its handler, which must then find nothing.
    void finish(std::uint64_t id, bool timed_out) {
        auto it = waiters.find(id);
        if (it == waiters.end()) return;
        auto done = std::move(it->second.done);
        waiters.erase(it);  // destroys the timer: its handler sees operation_aborted
        if (done) done(timed_out);
    }

    void check() {
        std::vector<std::uint64_t> ready_ids;
        for (auto& [id, w] : waiters) {
            bool ready = true;
            try {
                ready = w.ready();
            } catch (...) {
                ready = true;  // let `done` find out and answer with the error
            }
            if (ready) ready_ids.push_back(id);
        }
        for (auto id : ready_ids) finish(id, false);
    }

    asio::io_context& io;
    std::map<std::uint64_t, Waiter> waiters;
    std::uint64_t next_id = 1;
    bool stopping = false;
};

LongPolls::LongPolls(asio::io_context& io) : impl_(std::make_shared<Impl>(io)) {}

LongPolls::~LongPolls() {
    impl_->stopping = true;
    while (!impl_->waiters.empty()) impl_->finish(impl_->waiters.begin()->first, true);
}

void LongPolls::wait(std::chrono::milliseconds max, std::function<bool()> ready, std::function<void(bool)> done) {
    const std::uint64_t id = impl_->next_id++;
    auto& w = impl_->waiters[id];
    w.ready = std::move(ready);
    w.done = std::move(done);
    w.timer = std::make_unique<asio::steady_timer>(impl_->io);
    w.timer->expires_after(max);
    std::weak_ptr<Impl> weak = impl_;
    w.timer->async_wait([weak, id](const boost::system::error_code& ec) {
        auto impl = weak.lock();
        if (ec || !impl || impl->stopping) return;  // cancelled: already answered
        impl->finish(id, true);
    });
}

void LongPolls::notify() {
    std::weak_ptr<Impl> weak = impl_;
    asio::post(impl_->io, [weak] {
        if (auto impl = weak.lock(); impl && !impl->stopping) impl->check();
    });
}

std::size_t LongPolls::waiting() const { return impl_->waiters.size(); }

}  // namespace portal::api
