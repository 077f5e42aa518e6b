#include "keyd/userdb/provider.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "keyd/log/log.h"
#include "keyd/net/unix_listener.h"
#include "keyd/userdb/local_accounts.h"
#include "keyd/userdb/records.h"
#include "keyd/userdb/user_database.h"
#include "shared/ipc/framing.h"
#include "shared/ipc/unique_fd.h"

namespace portal::userdb {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxConnections = 256;
constexpr std::size_t kWriteChunk = 64 * 1024;

class Connection;

}  // namespace

struct Provider::Impl : std::enable_shared_from_this<Provider::Impl> {
    Impl(asio::io_context& io_, UserdbConfig c) : io(io_), cfg(std::move(c)), acceptor(io_), retry(io_) {}

    void accept();
    std::shared_ptr<const Database> build(const ipc::LoginState& planned, const Database* previous = nullptr,
                                          const std::unordered_set<std::string>* changed = nullptr) const {
        return Database::build(
            planned, cfg, [this](std::string_view g) { return local_group_exists(cfg, g); },
            [this](std::uint32_t gid) { return local_gid_exists(cfg, gid); }, previous, changed);
    }

    asio::io_context& io;
    UserdbConfig cfg;
    std::filesystem::path path;
    net::SocketFile socket_file;  // removed at the end only if still ours
    stream::acceptor acceptor;
    asio::steady_timer retry;  // after an accept error (EMFILE...), try again a little later
    // Replaced by update() on the main thread, read per request on the login thread.
    mutable std::mutex db_mu;
    std::shared_ptr<const Database> db;
    std::shared_ptr<const Database> current_db() const {
        std::lock_guard lock(db_mu);
        return db;
    }
    std::chrono::milliseconds idle_timeout{10'000};
    std::map<const void*, std::weak_ptr<Connection>> connections;
    bool stopped = false;
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(std::shared_ptr<Provider::Impl> owner, stream::socket socket)
        : owner_(std::move(owner)), socket_(std::move(socket)), timer_(owner_->io),
          buffer_(kMaxVarlinkRequestBytes) {}

    void start() {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
            peer_uid_ = static_cast<std::uint32_t>(cred.uid);
        arm_timer();
        process();
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        error_code ec;
        timer_.cancel();
        socket_.shutdown(stream::socket::shutdown_both, ec);
        socket_.close(ec);
        owner_->connections.erase(this);
    }

private:
    // Serves the buffered requests one at a time: the next one is read only once the reply to
    // the previous one is written, so a client that does not read holds at most one reply.
    void process() {
        if (closed_ || writing_) return;
        std::string message;
        switch (buffer_.next(message)) {
            case ipc::MessageBuffer::Status::message:
                reply_ = handle_request(owner_->current_db(), message, peer_uid_);
                if (reply_->close_after())
                    log::debug("userdb: bad request", {{"peer_uid", std::to_string(peer_uid_)}});
                write_more();
                return;
            case ipc::MessageBuffer::Status::too_large:
                reply_ = request_too_large();
                write_more();
                return;
            case ipc::MessageBuffer::Status::need_more: read(); return;
        }
    }

    void read() {
        if (reading_ || closed_) return;
        reading_ = true;
        socket_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](error_code ec, std::size_t n) {
            self->reading_ = false;
            if (self->closed_) return;
            if (ec) return self->close();  // EOF, ECONNRESET, ...
            self->buffer_.append(std::string_view(self->chunk_.data(), n));
            self->arm_timer();
            self->process();
        });
    }

    void write_more() {
        out_.clear();
        reply_->fill(out_, kWriteChunk);
        if (out_.empty()) return finish_reply();  // oneway
        writing_ = true;
        // Asio sends with MSG_NOSIGNAL: a peer that hung up (nss-systemd does that to the slower
        // providers) is an EPIPE/ECONNRESET here, which closes this connection only.
        asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](error_code ec, std::size_t) {
            self->writing_ = false;
            if (self->closed_) return;
            if (ec) return self->close();
            self->arm_timer();
            if (!self->reply_->done()) return self->write_more();
            self->finish_reply();
        });
    }

    void finish_reply() {
        const bool close_now = reply_->close_after();
        reply_.reset();
        out_.clear();
        out_.shrink_to_fit();
        if (close_now) return close();
        process();
    }

    void arm_timer() {
        timer_.expires_after(owner_->idle_timeout);
        timer_.async_wait([weak = weak_from_this()](error_code ec) {
            if (ec) return;  // re-armed or closed
            if (auto self = weak.lock()) self->close();
        });
    }

    std::shared_ptr<Provider::Impl> owner_;
    stream::socket socket_;
    asio::steady_timer timer_;
    ipc::MessageBuffer buffer_;
    std::array<char, 16 * 1024> chunk_{};
    std::optional<ReplyStream> reply_;
    std::string out_;
    std::uint32_t peer_uid_ = UINT32_MAX;
    bool reading_ = false, writing_ = false, closed_ = false;
};

}  // namespace

void Provider::Impl::accept() {
    if (stopped) return;
    acceptor.async_accept([self = shared_from_this()](error_code ec, stream::socket socket) {
        if (self->stopped || ec == asio::error::operation_aborted) return;
        if (ec) {
            log::warning("userdb: accept failed", {{"error", ec.message()}});
            self->retry.expires_after(std::chrono::milliseconds(100));
            self->retry.async_wait([self](error_code e) {
                if (!e) self->accept();
            });
            return;
        }
        if (self->connections.size() >= kMaxConnections) {
            log::warning("userdb: too many connections, closing a new one");
            error_code ignored;
            socket.close(ignored);
        } else {
            auto c = std::make_shared<Connection>(self, std::move(socket));
            self->connections.emplace(c.get(), c);
            c->start();
        }
        self->accept();
    });
}

Provider::Provider(asio::io_context& io, UserdbConfig cfg) : impl_(std::make_shared<Impl>(io, std::move(cfg))) {
    auto& s = *impl_;
    if (!is_valid_service_name(s.cfg.service)) throw std::runtime_error("userdb: invalid service name");
    ensure_userdb_bypass(s.cfg);
    s.path = s.cfg.socket_directory / s.cfg.service;
    if (s.path.native().size() >= sizeof(sockaddr_un{}.sun_path))
        throw std::runtime_error("userdb: socket path too long: " + s.path.string());
    std::error_code fec;
    if (!std::filesystem::is_directory(s.cfg.socket_directory, fec)) {
        std::filesystem::create_directories(s.cfg.socket_directory, fec);
        if (fec) throw std::runtime_error("userdb: cannot create " + s.cfg.socket_directory.string() + ": " + fec.message());
        ::chmod(s.cfg.socket_directory.c_str(), 0755);
    }
    // Anyone may ask (nss-systemd runs in every process); what is served is public anyway.
    s.socket_file = net::listen_unix(s.acceptor, s.path, 0666);
    s.db = s.build(ipc::LoginState{});
    s.accept();
}

Provider::~Provider() {
    auto& s = *impl_;
    s.stopped = true;
    error_code ec;
    s.acceptor.close(ec);
    s.retry.cancel();
    auto connections = std::move(s.connections);
    for (auto& [key, weak] : connections)
        if (auto c = weak.lock()) c->close();
    s.socket_file.remove_if_ours();
}

void Provider::update(std::shared_ptr<const ipc::LoginState> planned, const std::unordered_set<std::string>* changed) {
    // Built here (NSS checks of the configured groups included), swapped in under the lock.
    // Only this thread replaces the database, so the one read here is the last built.
    const auto previous = impl_->current_db();
    // Not `planned ? *planned : LoginState{}`: that conditional is a copy of the whole state.
    static const ipc::LoginState empty;
    auto db = impl_->build(planned ? *planned : empty, previous.get(), changed);
    std::lock_guard lock(impl_->db_mu);
    impl_->db = std::move(db);
}

void Provider::set_idle_timeout(std::chrono::milliseconds timeout) { impl_->idle_timeout = timeout; }

const std::filesystem::path& Provider::socket_path() const { return impl_->path; }

}  // namespace portal::userdb
