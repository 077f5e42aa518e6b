// The HTTP/1.1 connection both listeners serve (the API socket: http_server.cpp; HTTPS:
// https_server.cpp): parsing under limits, unambiguous framing, timeouts, keep-alive, and
// the handler's Response turned into bytes. Internal to keyd/api: Beast is included only by
// these three files (each such translation unit takes ~10 s to compile).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// Boost.Optional inside Beast's parser trips a false -Wmaybe-uninitialized at -O2 (g++ 12).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#pragma GCC diagnostic pop

#include "keyd/api/http_server.h"
#include "keyd/api/http_types.h"
#include "keyd/log/log.h"
#include "keyd/api/percent_encoding.h"
#include "shared/random.h"

namespace portal::api::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

inline std::string json_escape(std::string_view s) {
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

inline std::string json_error(std::string_view code, std::string_view message) {
    return "{\"code\":\"" + json_escape(code) + "\",\"message\":\"" + json_escape(message) + "\"}";
}

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

inline bool has_crlf_or_nul(std::string_view s) {
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
inline std::optional<FramingError> framing_error(const http::request<http::string_body, Fields>& req) {
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
inline std::string short_error_response(unsigned status, std::string_view code, std::string_view message,
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

// Who is at the other end of one connection: stamped on every request it carries.
struct Origin {
    Transport transport = Transport::unix_socket;
    PeerCredentials peer;
    std::string remote_address;

    // For log lines: "uid" on the socket, "remote" over HTTPS.
    std::pair<std::string, std::string> log_field() const {
        if (transport == Transport::https) return {"remote", remote_address};
        return {"uid", std::to_string(peer.uid)};
    }
};

template <class Stream>
inline constexpr bool is_tls_stream = false;
template <class Next>
inline constexpr bool is_tls_stream<beast::ssl_stream<Next>> = true;

// One HTTP/1.1 connection over `Stream` (a Unix socket stream, or TLS over TCP). Keeps
// itself alive through the shared_ptr captured by its pending operation; ends when no
// operation is pending. `Owner` is the server's state: it has `limits`, `handler` and
// `stopped`, and is told when a session begins and ends (attach/detach) for its limits.
template <class Stream, class Owner>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream, Owner>> {
public:
    HttpSession(std::shared_ptr<Owner> srv, Stream stream, Origin origin)
        : srv_(std::move(srv)), stream_(std::move(stream)), origin_(std::move(origin)) {
        srv_->attach(this, origin_);
    }
    ~HttpSession() { srv_->detach(this, origin_); }
    HttpSession(const HttpSession&) = delete;
    HttpSession& operator=(const HttpSession&) = delete;

    void start() {
        if constexpr (is_tls_stream<Stream>) {
            handshake();
        } else {
            read_header();
        }
    }

    void close() {
        beast::error_code ec;
        auto& lowest = beast::get_lowest_layer(stream_);
        lowest.socket().shutdown(std::remove_reference_t<decltype(lowest.socket())>::shutdown_both, ec);
        lowest.close();
    }

private:
    using std::enable_shared_from_this<HttpSession<Stream, Owner>>::shared_from_this;

    auto& lowest() { return beast::get_lowest_layer(stream_); }

    // TLS: the first bytes decide. A TLS record (0x16, handshake) goes on to the handshake,
    // which must finish within handshake_timeout; plain HTTP gets a plain 400 saying what
    // to use instead, anything else is dropped. Nothing is read past the handshake here.
    void handshake() {
        lowest().expires_after(srv_->limits.handshake_timeout);
        lowest().async_read_some(buffer_.prepare(1), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            if (ec || n == 0 || self->srv_->stopped) return self->close();
            self->buffer_.commit(n);
            const auto first = static_cast<unsigned char>(*static_cast<const char*>(self->buffer_.data().data()));
            if (first != 0x16) return self->refuse_plaintext(first);
            self->stream_.async_handshake(boost::asio::ssl::stream_base::server, self->buffer_.data(),
                                          [self](beast::error_code hec, std::size_t used) {
                                              if (hec || self->srv_->stopped) return self->close();
                                              self->buffer_.consume(used);
                                              self->read_header();
                                          });
        });
    }

    void refuse_plaintext(unsigned char first) {
        if (first < 'A' || first > 'Z') return close();
        auto answer = std::make_shared<std::string>(short_error_response(
            400, "BAD_REQUEST", "this port speaks HTTPS: use https://", random_id("req_"), std::nullopt));
        lowest().expires_after(std::chrono::seconds(2));
        boost::asio::async_write(lowest().socket(), boost::asio::buffer(*answer),
                                 [self = shared_from_this(), answer](beast::error_code, std::size_t) { self->close(); });
    }

    // Waits for the first byte of the next keep-alive request under idle_timeout; the
    // request then gets the whole of request_timeout.
    void wait_idle() {
        if (buffer_.size() > 0) return read_header();  // pipelined request already buffered
        lowest().expires_after(srv_->limits.idle_timeout);
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
        lowest().expires_after(srv_->limits.request_timeout);
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
                                      origin_.log_field(),
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
        req.transport = origin_.transport;
        req.peer = origin_.peer;
        req.remote_address = origin_.remote_address;
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

        if (out.deferred) {
            // A long-poll: nothing is read or written until the answer comes (this session
            // stays alive through the callback). A server stopping meanwhile closed the socket:
            // the late write then fails quietly.
            auto deferred = std::move(out.deferred);
            auto self = shared_from_this();
            try {
                deferred([self, version, keep_alive, head](Response later) {
                    if (later.deferred) later = internal_error();
                    self->send(later, version, keep_alive, head);
                });
            } catch (...) {
                send(internal_error(), version, keep_alive, head);
            }
            return;
        }
        send(out, version, keep_alive, head);
    }

    void send(const Response& out, unsigned version, bool keep_alive, bool head) {
        if (srv_->stopped) return close();
        auto res = std::make_shared<http::response<http::string_body>>();
        if (!build_response(out, *res, version, keep_alive, head)) {
            *res = {};
            build_response(internal_error(), *res, version, keep_alive, head);
        }
        write(std::move(res));
    }

    static Response internal_error() {
        return Response{500, {}, json_error("INTERNAL_ERROR", "internal error"), {}};
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
        lowest().expires_after(srv_->limits.request_timeout);  // a client that never reads is dropped
        auto& ref = *res;
        http::async_write(stream_, ref,
                          [self = shared_from_this(), res = std::move(res)](beast::error_code ec,
                                                                             std::size_t) {
                              // EPIPE/ECONNRESET: the peer is gone, just end the session.
                              if (ec || self->srv_->stopped || !res->keep_alive()) return self->close();
                              self->wait_idle();
                          });
    }

    std::shared_ptr<Owner> srv_;
    Stream stream_;
    Origin origin_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace portal::api::detail
