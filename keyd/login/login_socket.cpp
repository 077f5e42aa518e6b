// Threading: everything runs on the io_context's single thread; the LoginSocket object must
// be destroyed on that thread or while the io_context is not running.
#include "keyd/login/login_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "keyd/log/log.h"
#include "keyd/net/unix_listener.h"
#include "shared/ipc/framing.h"

namespace portal::login {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using error_code = boost::system::error_code;

namespace {
class Connection;
}

struct LoginSocket::Server : std::enable_shared_from_this<LoginSocket::Server> {
    Server(asio::io_context& io, std::filesystem::path p, ipc::LoginHandler& h, LoginSocketLimits l)
        : path(std::move(p)), handler(h), limits(l), acceptor(io), retry_timer(io), idle_timer(io) {}

    std::filesystem::path path;
    ipc::LoginHandler& handler;
    LoginSocketLimits limits;
    local::acceptor acceptor;
    asio::steady_timer retry_timer;
    // One timer for every connection's idle timeout, running only while there are connections:
    // a timer per connection cost two timerfd updates per request.
    asio::steady_timer idle_timer;
    bool idle_timer_running = false;
    // Besides root. Set by set_access() on the main thread (reload), read at accept time on
    // the login thread.
    mutable std::mutex access_mu;
    std::vector<uid_t> allowed;
    bool is_allowed(uid_t uid) const {
        std::lock_guard lock(access_mu);
        return uid == 0 || std::find(allowed.begin(), allowed.end(), uid) != allowed.end();
    }
    std::unordered_set<Connection*> connections;
    bool stopped = false;
    net::SocketFile socket_file;  // what open() bound; removed at the end only if still ours
    // Refused peers are logged, but a local user looping on connect() must not flood the log.
    std::chrono::steady_clock::time_point refused_logged_at{};
    std::size_t refused_unlogged = 0;

    void open();
    void do_accept();
    void refuse(const ucred& cred);
    void watch_idle();
    void close_idle();
    void stop();
};

namespace {

// One client connection. The usual client connects, sends one request and reads one reply:
// that request is read, answered and written here as soon as the connection is accepted,
// without a trip through the event loop; only what is not there yet is waited for.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    using clock = std::chrono::steady_clock;

    Connection(std::shared_ptr<LoginSocket::Server> srv, local::socket sock, ucred peer)
        : srv_(std::move(srv)), sock_(std::move(sock)), buffer_(ipc::kMaxRequestBytes), peer_(peer),
          deadline_(clock::now() + srv_->limits.idle_timeout) {
        srv_->connections.insert(this);
    }
    ~Connection() { srv_->connections.erase(this); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start() {
        error_code ec;
        sock_.non_blocking(true, ec);
        if (ec) return close();
        const std::size_t n = sock_.read_some(asio::buffer(in_), ec);
        if (!ec) buffer_.append(std::string_view(in_.data(), n));
        else if (ec != asio::error::would_block) return close();  // EOF, reset: nothing to answer
        serve();
    }

    void close() {
        error_code ignored;
        sock_.shutdown(local::socket::shutdown_both, ignored);
        sock_.close(ignored);
    }

    // Open, and no complete request since it was accepted or last answered for the idle
    // timeout.
    bool idle_past(clock::time_point now) const { return sock_.is_open() && now >= deadline_; }
    pid_t pid() const { return peer_.pid; }

private:
    // Answers every complete request already buffered (clients may pipeline), then reads.
    void serve() {
        for (;;) {
            if (srv_->stopped) return close();
            std::string message;
            switch (buffer_.next(message)) {
                case ipc::MessageBuffer::Status::message: {
                    // A code an agent's portal checks is answered later: this thread serves
                    // others meanwhile, and the answer comes back here.
                    auto later = [self = shared_from_this()](ipc::DispatchResult r) mutable {
                        // The connection moves into the posted handler: its last reference
                        // never ends on the checker's thread.
                        auto executor = self->sock_.get_executor();
                        asio::post(executor, [self = std::move(self), r = std::move(r)]() mutable {
                            if (self->reply(std::move(r))) self->serve();
                        });
                    };
                    auto now = ipc::dispatch_async(message, srv_->handler, std::move(later));
                    if (!now || !reply(std::move(*now))) return;
                    continue;
                }
                case ipc::MessageBuffer::Status::too_large: reply(ipc::request_too_large()); return;
                case ipc::MessageBuffer::Status::need_more: break;
            }
            break;
        }
        sock_.async_read_some(asio::buffer(in_), [self = shared_from_this()](const error_code& ec, std::size_t n) {
            // EOF, ECONNRESET, a closed socket: the peer is gone, nothing to answer.
            if (ec) return self->close();
            self->buffer_.append(std::string_view(self->in_.data(), n));
            self->serve();
        });
    }

    // Sends the reply: true when it went out at once and the connection serves on, false when
    // the rest goes out asynchronously (serve() follows) or the connection is closed.
    bool reply(ipc::DispatchResult result) {
        if (!result.log.empty())
            log::warning("login socket: request refused",
                         {{"uid", std::to_string(peer_.uid)}, {"pid", std::to_string(peer_.pid)}, {"error", result.log}});
        out_ = std::move(result.reply);
        close_after_ = result.close;
        // asio sends with MSG_NOSIGNAL: a client that went away is EPIPE here, not SIGPIPE.
        error_code ec;
        const std::size_t sent = sock_.write_some(asio::buffer(out_), ec);
        if (ec && ec != asio::error::would_block) {
            close();
            return false;
        }
        if (!ec && sent == out_.size()) return replied();
        const std::size_t done = ec ? 0 : sent;
        asio::async_write(sock_, asio::buffer(out_) + done, [self = shared_from_this()](const error_code& wec, std::size_t) {
            if (wec) return self->close();
            if (self->replied()) self->serve();
        });
        return false;
    }

    bool replied() {
        if (close_after_) {
            close();
            return false;
        }
        deadline_ = clock::now() + srv_->limits.idle_timeout;
        return true;
    }

    std::shared_ptr<LoginSocket::Server> srv_;
    local::socket sock_;
    ipc::MessageBuffer buffer_;
    std::array<char, 8192> in_{};
    std::string out_;
    bool close_after_ = false;
    ucred peer_;
    clock::time_point deadline_;
};

}  // namespace

// 0600 until set_access() opens it to the helper's group.
void LoginSocket::Server::open() { socket_file = net::listen_unix(acceptor, path, 0600); }

void LoginSocket::Server::refuse(const ucred& cred) {
    const auto now = std::chrono::steady_clock::now();
    if (now - refused_logged_at < std::chrono::seconds(10)) {
        ++refused_unlogged;
        return;
    }
    log::warning("login socket: connection refused: uid not allowed",
                 {{"uid", std::to_string(cred.uid)},
                  {"pid", std::to_string(cred.pid)},
                  {"refused_since_last_report", std::to_string(refused_unlogged)}});
    refused_logged_at = now;
    refused_unlogged = 0;
}

void LoginSocket::Server::do_accept() {
    acceptor.async_accept([self = shared_from_this()](const error_code& ec, local::socket sock) {
        if (self->stopped || ec == asio::error::operation_aborted) return;
        if (ec) {
            // EMFILE and friends: back off instead of spinning on a failing accept.
            self->retry_timer.expires_after(std::chrono::milliseconds(100));
            self->retry_timer.async_wait([self](const error_code& tec) {
                if (!tec && !self->stopped) self->do_accept();
            });
            return;
        }
        error_code ignored;
        const auto cred = ipc::peer_credentials(sock.native_handle());
        if (!cred) {
            sock.close(ignored);  // no identity, no service
        } else if (!self->is_allowed(cred->uid)) {
            self->refuse(*cred);
            sock.close(ignored);
        } else if (self->connections.size() >= self->limits.max_connections) {
            log::warning("login socket: too many connections, closing a new one",
                         {{"uid", std::to_string(cred->uid)}, {"limit", std::to_string(self->limits.max_connections)}});
            sock.close(ignored);
        } else {
            std::make_shared<Connection>(self, std::move(sock), *cred)->start();
            self->watch_idle();
        }
        self->do_accept();
    });
}

// Runs the idle timer while there are connections, at a quarter of the timeout: a connection
// is closed between 1 and 1.25 timeouts after its last request.
void LoginSocket::Server::watch_idle() {
    if (idle_timer_running || connections.empty() || stopped) return;
    idle_timer_running = true;
    idle_timer.expires_after(std::max<std::chrono::milliseconds>(limits.idle_timeout / 4, std::chrono::milliseconds(1)));
    idle_timer.async_wait([self = shared_from_this()](const error_code& ec) {
        self->idle_timer_running = false;
        if (ec) return;
        self->close_idle();
        self->watch_idle();
    });
}

void LoginSocket::Server::close_idle() {
    const auto now = std::chrono::steady_clock::now();
    // close() only cancels the connection's operations: none is destroyed during this loop.
    for (Connection* c : connections) {
        if (!c->idle_past(now)) continue;
        log::debug("login socket: idle connection closed", {{"pid", std::to_string(c->pid())}});
        c->close();
    }
}

void LoginSocket::Server::stop() {
    stopped = true;
    error_code ec;
    acceptor.close(ec);
    retry_timer.cancel();
    idle_timer.cancel();
    std::vector<Connection*> live(connections.begin(), connections.end());
    for (Connection* c : live) c->close();
    // Remove the file only if it is still ours (a new daemon may have replaced it).
    socket_file.remove_if_ours();
}

LoginSocket::LoginSocket(asio::io_context& io, const std::filesystem::path& path, ipc::LoginHandler& handler,
                         LoginSocketLimits limits)
    : server_(std::make_shared<Server>(io, path, handler, limits)) {
    server_->open();
    server_->do_accept();
}

LoginSocket::~LoginSocket() { server_->stop(); }

bool LoginSocket::set_access(std::vector<uid_t> uids, std::optional<gid_t> group) {
    {
        std::lock_guard lock(server_->access_mu);
        server_->allowed = std::move(uids);
    }
    const char* p = server_->path.c_str();
    mode_t mode = 0600;
    if (group) {
        // chown first: for a moment the file is 0600 with the new group, never 0660 with the old.
        if (::chown(p, static_cast<uid_t>(-1), *group) == 0) {
            mode = 0660;
        } else {
            log::warning("login socket: cannot hand the socket to the helper's group; only root can connect",
                         {{"path", server_->path.string()}, {"gid", std::to_string(*group)}, {"error", std::strerror(errno)}});
        }
    }
    if (::chmod(p, mode) != 0) {
        log::error("login socket: cannot set the socket's mode", {{"path", server_->path.string()}, {"error", std::strerror(errno)}});
        return false;
    }
    return mode == 0660 || !group;
}

std::size_t LoginSocket::connections() const { return server_->connections.size(); }

}  // namespace portal::login
