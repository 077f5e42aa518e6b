#include "keyd/net/io_thread.h"

#include <pthread.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>

#include "keyd/log/log.h"

namespace portal::net {

IoThread::IoThread(boost::asio::io_context& io, std::string name, std::function<void()> on_failure) : io_(io) {
    thread_ = std::thread([&io, name = std::move(name), on_failure = std::move(on_failure)] {
        ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
        auto work = boost::asio::make_work_guard(io);
        try {
            io.run();
            return;  // stopped
        } catch (const std::exception& e) {
            log::error("fatal: a handler failed", {{"thread", name}, {"error", e.what()}});
        } catch (...) {
            log::error("fatal: a handler failed", {{"thread", name}});
        }
        if (on_failure) on_failure();
    });
}

IoThread::~IoThread() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
}

}  // namespace portal::net
