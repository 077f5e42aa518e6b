// HTTP/1.1 server on a Unix stream socket. All Boost.Beast code of the project lives in
// this file: one slow translation unit, and everything above it sees only http_types.h.
//
// Threading: everything runs on the io_context's single thread. The HttpServer object must
// be destroyed on that thread or while the io_context is not running.
#include "keyd/api/http_server.h"
#include "keyd/api/percent_encoding.h"
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

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    static constexpr char hex[] = "0123456789abcdef";
                    out += "\\u00";
                    out += hex[(c >> 4) & 0xf];
                    out += hex[c & 0xf];
                } else {
                    out += c;
                }
        }
    }
    return out;
}

std::string json_error(std::string_view code, std::string_view message) {
    return "{\"code\":\"" + json_escape(code) + "\",\"message\":\"" + json_escape(message) + "\"}";
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool has_crlf_or_nul(std::string_view s) {
    return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// RFC 9112 §6: a request's framing must be unambiguous, or a request hidden in its body
// would be parsed as the next one (smuggling). Beast leaves these to us: it reads
// "chunked, identity" (and "chunked, chunked") as no body at all, and lets a Content-Length
// that follows a non-chunked Transfer-Encoding decide the length.
struct FramingError {
    unsigned status;
    std::string_view code;
    std::string message;
};

template <class Fields>
std::optional<FramingError> framing_error(const http::request<http::string_body, Fields>& req) {
    bool has_transfer_encoding = false;
    std::vector<std::string> codings;
    for (const auto& f : req) {
        if (f.name() != http::field::transfer_encoding) continue;
        has_transfer_encoding = true;
        std::string_view list(f.value().data(), f.value().size());
        while (!list.empty()) {
            const auto comma = list.find(',');
            std::string_view item = list.substr(0, comma);
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
            if (!item.empty()) codings.push_back(lower(item));  // empty list elements are allowed
        }
    }
    if (!has_transfer_encoding) return std::nullopt;
    if (req.version() < 11) return FramingError{400, "BAD_REQUEST", "Transfer-Encoding is not allowed in HTTP/1.0"};
    if (req.count(http::field::content_length) != 0)
        return FramingError{400, "BAD_REQUEST", "Content-Length and Transfer-Encoding must not be sent together"};
    if (codings.empty() || codings.back() != "chunked")
        return FramingError{400, "BAD_REQUEST", "chunked must be the final transfer coding"};
    const auto before_last = codings.end() - 1;
    if (std::find(codings.begin(), before_last, "chunked") != before_last)
        return FramingError{400, "BAD_REQUEST", "chunked must be applied only once"};
    if (codings.size() > 1) return FramingError{501, "NOT_IMPLEMENTED", "only the chunked transfer coding is supported"};
    return std::nullopt;
}

// A complete response for a connection refused before any request was read.
std::string short_error_response(unsigned status, std::string_view code, std::string_view message,
                                 std::string_view correlation_id, std::optional<unsigned> retry_after) {
    const std::string body = json_error(code, message);
    std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    out.append(reason.data(), reason.size());
    out += "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nX-Correlation-ID: ";
    out.append(correlation_id.data(), correlation_id.size());
    if (retry_after) out += "\r\nRetry-After: " + std::to_string(*retry_after);
    out += "\r\nConnection: close\r\n\r\n" + body;
    return out;
}

class Session;
class Refusal;

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

// One connection. Keeps itself alive through the shared_ptr captured by its pending
// operation; ends when no operation is pending.
class Session : public std::enable_shared_from_this<Session> {
public:
    Session(std::shared_ptr<ServerState> srv, local::socket sock, PeerCredentials peer)
        : srv_(std::move(srv)), stream_(std::move(sock)), peer_(peer) {
        srv_->sessions.insert(this);
        ++srv_->sessions_by_uid[peer_.uid];
    }
    ~Session() {
        srv_->sessions.erase(this);
        if (auto it = srv_->sessions_by_uid.find(peer_.uid); it != srv_->sessions_by_uid.end() && --it->second == 0)
            srv_->sessions_by_uid.erase(it);
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void start() { read_header(); }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(local::socket::shutdown_both, ec);
        stream_.close();
    }

private:
    // Waits for the first byte of the next keep-alive request under idle_timeout; the
    // request then gets the whole of request_timeout.
    void wait_idle() {
        if (buffer_.size() > 0) return read_header();  // pipelined request already buffered
        stream_.expires_after(srv_->limits.idle_timeout);
        stream_.async_read_some(buffer_.prepare(4096),
                                [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                    if (ec || self->srv_->stopped) return self->close();
                                    self->buffer_.commit(n);
                                    self->read_header();
                                });
    }

    void read_header() {
        parser_.emplace();
        parser_->body_limit(static_cast<std::uint64_t>(srv_->limits.max_body_bytes));
        parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
            srv_->limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
        stream_.expires_after(srv_->limits.request_timeout);
        http::async_read_header(stream_, buffer_, *parser_,
                                [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                    self->on_header(ec);
                                });
    }

    void on_header(beast::error_code ec) {
        if (ec) return on_read_error(ec);
        if (srv_->stopped) return close();
        auto& req = parser_->get();
        if (auto bad = framing_error(req)) return send_error(bad->status, bad->code, bad->message);
        // Tell a client that waits for it (curl does for large bodies) to send the body.
        if (req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue") &&
            !parser_->is_done()) {
            static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
            asio::async_write(stream_, asio::buffer(cont.data(), cont.size()),
                              [self = shared_from_this()](beast::error_code wec, std::size_t) {
                                  if (wec) return self->close();
                                  self->read_body();
                              });
            return;
        }
        read_body();
    }

    void read_body() {
        // Same deadline as the header: the whole request must arrive within request_timeout.
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (ec) return self->on_read_error(ec);
                             if (self->srv_->stopped) return self->close();
                             self->on_request();
                         });
    }

    void on_read_error(beast::error_code ec) {
        if (ec == http::error::body_limit)
            return send_error(413, "PAYLOAD_TOO_LARGE",
                              "request body exceeds " + std::to_string(srv_->limits.max_body_bytes) +
                                  " bytes");
        if (ec == http::error::header_limit)
            return send_error(431, "BAD_REQUEST",
                              "request header exceeds " +
                                  std::to_string(srv_->limits.max_header_bytes) + " bytes");
        // end_of_stream: the client closed between requests; partial_message: it went away
        // mid-request. Neither can read an answer.
        if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
            ec != http::error::end_of_stream && ec != http::error::partial_message)
            return send_error(400, "BAD_REQUEST", "malformed HTTP request: " + ec.message());
        close();  // timeout, reset, EOF: drop the connection without an answer
    }

    void send_error(unsigned status, std::string_view code, const std::string& message) {
        if (srv_->stopped) return close();
        auto res = std::make_shared<http::response<http::string_body>>();
        res->version(11);
        res->result(status);
        res->set(http::field::content_type, "application/json");
        res->body() = json_error(code, message);
        // Refused before the router saw it: still give the caller an id to quote, and log it.
        const std::string cid = random_id("req_");
        res->set("X-Correlation-ID", cid);
        log::info("request refused", {{"status", std::to_string(status)},
                                      {"reason", std::string(code)},
                                      {"uid", std::to_string(peer_.uid)},
                                      {"correlation_id", cid}});
        res->keep_alive(false);
        res->prepare_payload();
        write(std::move(res));
    }

    void on_request() {
        auto& msg = parser_->get();
        Request req;
        req.method = std::string(msg.method_string());
        req.target = std::string(msg.target());
        req.peer = peer_;
        const bool keep_alive = msg.keep_alive();
        const unsigned version = msg.version();
        const bool head = msg.method() == http::verb::head;

        Response out;
        if (!parse_target(req.target, req.path, req.query)) {
            out.status = 400;
            out.body = json_error("BAD_REQUEST", "invalid request target");
            out.headers.emplace_back("X-Correlation-ID", random_id("req_"));  // the router never saw it
        } else {
            req.headers.reserve(static_cast<std::size_t>(std::distance(msg.begin(), msg.end())));
            for (const auto& f : msg) req.headers.emplace_back(lower({f.name_string().data(), f.name_string().size()}), std::string(f.value().data(), f.value().size()));
            req.body = std::move(msg.body());
            try {
                out = srv_->handler(req);
            } catch (...) {
                out = internal_error();
            }
        }
        parser_.reset();

        auto res = std::make_shared<http::response<http::string_body>>();
        if (!build_response(out, *res, version, keep_alive, head)) {
            *res = {};
            build_response(internal_error(), *res, version, keep_alive, head);
        }
        write(std::move(res));
    }

    static Response internal_error() {
        return Response{500, {}, json_error("INTERNAL_ERROR", "internal error")};
    }

    // False when the handler's response cannot be sent as given (bad status, header
    // injection): the caller then sends a 500 instead.
    static bool build_response(const Response& out, http::response<http::string_body>& res,
                               unsigned version, bool keep_alive, bool head) {
        if (out.status < 200 || out.status > 599) return false;
        const bool no_body = out.status == 204 || out.status == 304;
        if (no_body && !out.body.empty()) return false;
        res.version(version);
        res.result(static_cast<unsigned>(out.status));
        bool has_type = false;
        bool close_requested = false;
        for (const auto& [name, value] : out.headers) {
            if (name.empty() || has_crlf_or_nul(name) || has_crlf_or_nul(value) ||
                name.find(':') != std::string::npos)
                return false;
            std::string lname = lower(name);
            // Framing is the server's job.
            if (lname == "content-length" || lname == "transfer-encoding") continue;
            if (lname == "connection") {
                if (beast::iequals(value, "close")) close_requested = true;
                continue;
            }
            if (lname == "content-type") has_type = true;
            res.insert(name, value);
        }
        if (!out.body.empty() && !has_type) res.set(http::field::content_type, "application/json");
        res.keep_alive(keep_alive && !close_requested);
        if (no_body) return true;
        res.content_length(out.body.size());
        if (!head) res.body() = out.body;
        return true;
    }

    void write(std::shared_ptr<http::response<http::string_body>> res) {
        stream_.expires_after(srv_->limits.request_timeout);  // a client that never reads is dropped
        auto& ref = *res;
        http::async_write(stream_, ref,
                          [self = shared_from_this(), res = std::move(res)](beast::error_code ec,
                                                                             std::size_t) {
                              // EPIPE/ECONNRESET: the peer is gone, just end the session.
                              if (ec || self->srv_->stopped || !res->keep_alive()) return self->close();
                              self->wait_idle();
                          });
    }

    std::shared_ptr<ServerState> srv_;
    Stream stream_;
    PeerCredentials peer_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
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
    std::make_shared<Session>(shared_from_this(), std::move(sock), PeerCredentials{cred.pid, cred.uid, cred.gid})
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
