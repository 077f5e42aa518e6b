// Runs an io_context on a thread of its own until destroyed. The daemon serves the login path
// (login socket, userdb provider) this way, so that API handlers, store writes and publication
// on the main thread never delay a login.
// Declare it after every object that lives on its io_context: it is destroyed first, and its
// destructor stops the io_context and joins the thread, so those objects are destroyed with
// nothing running them.
#pragma once
#include <functional>
#include <string>
#include <thread>

namespace boost::asio {
class io_context;
}

namespace portal::net {

class IoThread {
public:
    // Starts running `io` (kept running while idle) on a new thread named `name` (for ps/top).
    // A handler that throws ends the thread (logged) and calls `on_failure` on it: the
    // daemon then exits with an error, and systemd restarts it, rather than keep running
    // with half its sockets unserved.
    IoThread(boost::asio::io_context& io, std::string name, std::function<void()> on_failure);
    ~IoThread();
    IoThread(const IoThread&) = delete;
    IoThread& operator=(const IoThread&) = delete;

private:
    boost::asio::io_context& io_;
    std::thread thread_;
};

}  // namespace portal::net
