// HTTP/1.1 server on a Unix stream socket: who the peer is (SO_PEERCRED) and the limits per
// uid; the HTTP itself is http_session.h. Everything above it sees only http_types.h.
//
// Threading: everything runs on the io_context's single thread. The HttpServer object must
// be destroyed on that thread or while the io_context is not running.
#include "keyd/api/http_server.h"
#include "keyd/api/http_session.h"
#include "keyd/log/log.h"
#include "keyd/net/unix_listener.h"
#include "shared/random.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
// Boost.Optional inside Beast's parser trips a false -Wmaybe-uninitialized at -O2 (g++ 12).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <utility>

namespace portal::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using local = asio::local::stream_protocol;
using Stream = beast::basic_stream<local, asio::any_io_executor, beast::unlimited_rate_policy>;

namespace {

using detail::json_error;
using detail::short_error_response;
class Refusal;
struct ServerState;
using Session = detail::HttpSession<Stream, ServerState>;

// The server's state. Sessions share ownership, so it outlives the HttpServer object
// until the last connection has ended.
struct ServerState : std::enable_shared_from_this<ServerState> {
    ServerState(asio::io_context& io, std::filesystem::path p, ServerLimits l, Handler h, PeerFilter k)
        : path(std::move(p)), limits(l), handler(std::move(h)), known_peer(std::move(k)), acceptor(io),
          retry_timer(io) {}

    void open(unsigned mode);
    void do_accept();
    void admit(local::socket sock);
    bool is_known(uid_t uid);
    // Answers `status` at once and closes: the refused peer holds no session slot.
    void refuse(local::socket sock, uid_t uid, unsigned status, std::string_view code, const std::string& message,
                std::optional<unsigned> retry_after = std::nullopt);
    void log_refusal(uid_t uid, unsigned status, std::string_view code, const std::string& correlation_id);
    void stop();
    void attach(Session* s, const detail::Origin& o) {
        sessions.insert(s);
        ++sessions_by_uid[o.peer.uid];
    }
    void detach(Session* s, const detail::Origin& o) {
        sessions.erase(s);
        if (auto it = sessions_by_uid.find(o.peer.uid); it != sessions_by_uid.end() && --it->second == 0)
            sessions_by_uid.erase(it);
    }

    std::filesystem::path path;
    ServerLimits limits;
    Handler handler;
    PeerFilter known_peer;
    local::acceptor acceptor;
    asio::steady_timer retry_timer;
    net::SocketFile socket_file;  // what open() bound; stop() removes it only if still ours
    bool stopped = false;
    std::unordered_set<Session*> sessions;  // live sessions, for the limit and for stop()
    std::unordered_map<uid_t, std::size_t> sessions_by_uid;
    std::unordered_set<Refusal*> refusals;  // refused peers whose request is still being read
    struct RefusalLog {
        std::chrono::steady_clock::time_point last;
        std::size_t suppressed = 0;
    };
    std::unordered_map<uid_t, RefusalLog> refusal_log;  // one log line per uid and interval, not per flood
};

// A refused connection: the short answer is already written; what the peer sends is read
// and dropped for a moment, so that a client that writes its request first still reads the
// answer (closing on unread data would reset the connection under it).
class Refusal : public std::enable_shared_from_this<Refusal> {
public:
    Refusal(std::shared_ptr<ServerState> srv, local::socket sock)
        : srv_(std::move(srv)), sock_(std::move(sock)), timer_(sock_.get_executor()) {
        srv_->refusals.insert(this);
    }
    ~Refusal() { srv_->refusals.erase(this); }
    Refusal(const Refusal&) = delete;
    Refusal& operator=(const Refusal&) = delete;

    void start(std::chrono::steady_clock::duration linger) {
        timer_.expires_after(linger);
        timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (!ec) self->close();
        });
        drain();
    }

    void close() {
        beast::error_code ignored;
        timer_.cancel();
        sock_.close(ignored);
    }

private:
    static constexpr std::size_t kMaxDrained = 64 * 1024;

    void drain() {
        sock_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            self->drained_ += n;
            if (ec || self->drained_ > kMaxDrained || self->srv_->stopped) return self->close();
            self->drain();
        });
    }

    std::shared_ptr<ServerState> srv_;
    local::socket sock_;
    asio::steady_timer timer_;
    std::array<char, 4096> buf_{};
    std::size_t drained_ = 0;
};

void ServerState::refuse(local::socket sock, uid_t uid, unsigned status, std::string_view code,
                         const std::string& message, std::optional<unsigned> retry_after) {
    beast::error_code ignored;
    const std::string cid = random_id("req_");
    log_refusal(uid, status, code, cid);
    // A fresh socket's send buffer takes the whole short answer: no need to wait for it.
    const std::string answer = short_error_response(status, code, message, cid, retry_after);
    const ssize_t n = ::send(sock.native_handle(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != static_cast<ssize_t>(answer.size()) || refusals.size() >= limits.max_refusing) {
        sock.close(ignored);
        return;
    }
    sock.shutdown(local::socket::shutdown_send, ignored);
    std::make_shared<Refusal>(shared_from_this(), std::move(sock))
        ->start(std::min<std::chrono::steady_clock::duration>(limits.request_timeout, std::chrono::seconds(2)));
}

void ServerState::open(unsigned mode) { socket_file = net::listen_unix(acceptor, path, static_cast<mode_t>(mode)); }

void ServerState::do_accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, local::socket sock) {
        if (self->stopped || ec == asio::error::operation_aborted) return;
        if (ec) {
            // EMFILE and friends: back off instead of spinning on a failing accept.
            self->retry_timer.expires_after(std::chrono::milliseconds(100));
            self->retry_timer.async_wait([self](beast::error_code tec) {
                if (!tec && !self->stopped) self->do_accept();
            });
            return;
        }
        self->admit(std::move(sock));
        self->do_accept();
    });
}

// Who the peer is comes first: only a known uid is counted against the limits, so an
// unknown uid's flood cannot take the slots of the known ones, and root always has room.
void ServerState::admit(local::socket sock) {
    beast::error_code ignored;
    struct ucred cred {};
    socklen_t len = sizeof cred;
    if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
        sock.close(ignored);  // no identity, no service
        return;
    }
    const uid_t uid = cred.uid;
    if (!is_known(uid))
        return refuse(std::move(sock), uid, 403, "FORBIDDEN", "uid " + std::to_string(uid) + " is not a portal user");
    if (uid != 0) {
        const auto it = sessions_by_uid.find(uid);
        if (it != sessions_by_uid.end() && it->second >= limits.max_connections_per_uid)
            return refuse(std::move(sock), uid, 429, "TOO_MANY_REQUESTS",
                          "uid " + std::to_string(uid) + " already has " + std::to_string(it->second) +
                              " open connections",
                          1);
    }
    const std::size_t reserve = std::min(limits.root_reserved_connections, limits.max_connections);
    const std::size_t cap = uid == 0 ? limits.max_connections : limits.max_connections - reserve;
    if (sessions.size() >= cap)
        return refuse(std::move(sock), uid, 503, "SERVICE_UNAVAILABLE", "too many open connections", 1);
    std::make_shared<Session>(shared_from_this(), Stream(std::move(sock)),
                              detail::Origin{Transport::unix_socket, PeerCredentials{cred.pid, cred.uid, cred.gid}, {}})
        ->start();
}

bool ServerState::is_known(uid_t uid) {
    if (!known_peer) return true;
    try {
        return known_peer(uid);
    } catch (const std::exception& e) {
        // Cannot tell (the store failed): refuse rather than serve an unidentified peer.
        log::error("cannot check the API peer's uid", {{"uid", std::to_string(uid)}, {"error", e.what()}});
        return false;
    }
}

void ServerState::log_refusal(uid_t uid, unsigned status, std::string_view code, const std::string& correlation_id) {
    const auto now = std::chrono::steady_clock::now();
    if (refusal_log.size() > 1024) refusal_log.clear();  // many distinct uids: forget, at worst log again
    auto [it, fresh] = refusal_log.try_emplace(uid);
    if (!fresh && now - it->second.last < std::chrono::seconds(10)) {
        ++it->second.suppressed;
        return;
    }
    log::info("connection refused", {{"status", std::to_string(status)},
                                     {"reason", std::string(code)},
                                     {"uid", std::to_string(uid)},
                                     {"refused_since_last_line", std::to_string(it->second.suppressed)},
                                     {"correlation_id", correlation_id}});
    it->second = {now, 0};
}

void ServerState::stop() {
    stopped = true;
    beast::error_code ec;
    acceptor.close(ec);
    retry_timer.cancel();
    // Copy: closing may not destroy a session now (its handlers still hold it), but be safe.
    std::vector<Session*> live(sessions.begin(), sessions.end());
    for (Session* s : live) s->close();
    std::vector<Refusal*> refused(refusals.begin(), refusals.end());
    for (Refusal* r : refused) r->close();
    socket_file.remove_if_ours();
    handler = nullptr;  // release what the handler captured; sessions check `stopped` first
}

}  // namespace

struct HttpServer::Impl : ServerState {
    using ServerState::ServerState;
};

HttpServer::HttpServer(asio::io_context& io, const std::filesystem::path& socket_path, unsigned mode,
                       ServerLimits limits, Handler handler, PeerFilter known_peer)
    : impl_(std::make_shared<Impl>(io, socket_path, limits, std::move(handler), std::move(known_peer))) {
    impl_->open(mode);
    impl_->do_accept();
}

HttpServer::~HttpServer() {
    if (impl_) impl_->stop();
}

}  // namespace portal::api
