// HTTPS listener: TCP accept, the TLS context, connection caps. The HTTP is http_session.h.
//
// Threading: everything runs on the io_context's single thread; destroy the server on that
// thread or while the io_context is not running.
#include "keyd/api/https_server.h"
#include "keyd/api/http_session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <openssl/ssl.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#pragma GCC diagnostic pop

#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "keyd/log/log.h"

namespace portal::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

// TLS 1.2 with forward secrecy and AEAD only (Mozilla's "intermediate" profile without DHE);
// TLS 1.3 keeps OpenSSL's defaults, which are all of that kind.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

ssl::context make_context(const net::TlsIdentity& id) {
    ssl::context ctx(ssl::context::tls_server);
    SSL_CTX* c = ctx.native_handle();
    if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 || SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1 ||
        SSL_CTX_set1_groups_list(c, "X25519:P-256:P-384") != 1)
        throw std::runtime_error("cannot configure TLS");
    // No renegotiation (a client-driven CPU sink), no compression (CRIME), no session
    // tickets (their key would outlive the connection and weaken forward secrecy).
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                               SSL_OP_NO_TICKET);
    boost::system::error_code ec;
    ctx.use_certificate_chain_file(id.certificate.string(), ec);
    if (ec) throw std::runtime_error(id.certificate.string() + ": " + ec.message());
    ctx.use_private_key_file(id.private_key.string(), ssl::context::pem, ec);
    if (ec) throw std::runtime_error(id.private_key.string() + ": " + ec.message());
    if (SSL_CTX_check_private_key(c) != 1)
        throw std::runtime_error(id.private_key.string() + ": not the key of " + id.certificate.string());
    return ctx;
}

std::string endpoint_text(const tcp::endpoint& e) {
    const auto a = e.address();
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(e.port());
}

// The client's address as the allowlist and the limits see it: an IPv4 client of a
// dual-stack socket is its IPv4 address, not ::ffff:a.b.c.d.
std::string client_address(const tcp::socket& sock) {
    boost::system::error_code ec;
    auto a = sock.remote_endpoint(ec).address();
    if (ec) return {};
    if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    return a.to_string();
}

struct TlsServerState;
using TlsSession = detail::HttpSession<TlsStream, TlsServerState>;

struct TlsServerState : std::enable_shared_from_this<TlsServerState> {
    TlsServerState(asio::io_context& ctx, HttpsSettings s, ServerLimits l, Handler h)
        : io(ctx), settings(std::move(s)), limits(l), handler(std::move(h)), tls(make_context(settings.identity)) {}

    void open() {
        for (const auto& a : settings.listen) {
            const tcp::endpoint ep(asio::ip::make_address(a.ip), a.port);
            auto& acc = acceptors.emplace_back(std::make_unique<tcp::acceptor>(io));
            boost::system::error_code ec;
            acc->open(ep.protocol(), ec);
            if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
            // "[::]" serves IPv4 clients too (as "0.0.0.0" does not serve IPv6 ones).
            if (!ec && a.ipv6) acc->set_option(asio::ip::v6_only(false), ec);
            if (!ec) acc->bind(ep, ec);
            if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
            if (ec == asio::error::address_family_not_supported)
                throw std::runtime_error("[listen] https " + endpoint_text(ep) + ": " + ec.message() +
                                         " (the packaged unit allows only Unix sockets: see README, \"The API over "
                                         "HTTPS\", for the drop-in that opens the network)");
            if (ec) throw std::runtime_error("[listen] https " + endpoint_text(ep) + ": " + ec.message());
        }
        for (auto& acc : acceptors) do_accept(*acc);
    }

    void do_accept(tcp::acceptor& acc) {
        acc.async_accept([self = shared_from_this(), &acc](boost::system::error_code ec, tcp::socket sock) {
            if (self->stopped || ec == asio::error::operation_aborted) return;
            if (ec) {
                // EMFILE and friends: back off instead of spinning on a failing accept.
                auto timer = std::make_shared<asio::steady_timer>(self->io, std::chrono::milliseconds(100));
                timer->async_wait([self, &acc, timer](boost::system::error_code tec) {
                    if (!tec && !self->stopped) self->do_accept(acc);
                });
                return;
            }
            self->admit(std::move(sock));
            self->do_accept(acc);
        });
    }

    // Over a cap the connection is closed at once: before the handshake there is no way to
    // answer it, and holding it would be what a flood wants.
    void admit(tcp::socket sock) {
        boost::system::error_code ignored;
        std::string remote = client_address(sock);
        if (remote.empty()) return sock.close(ignored);
        const auto it = per_address.find(remote);
        const std::size_t mine = it == per_address.end() ? 0 : it->second;
        if (sessions.size() >= settings.max_connections || mine >= settings.max_connections_per_address) {
            log_refusal(remote, sessions.size() >= settings.max_connections ? "too many connections"
                                                                             : "too many connections from this address");
            return sock.close(ignored);
        }
        sock.set_option(tcp::no_delay(true), ignored);
        std::make_shared<TlsSession>(shared_from_this(), TlsStream(beast::tcp_stream(std::move(sock)), tls),
                                     detail::Origin{Transport::https, {}, std::move(remote)})
            ->start();
    }

    void attach(TlsSession* s, const detail::Origin& o) {
        sessions.insert(s);
        ++per_address[o.remote_address];
    }
    void detach(TlsSession* s, const detail::Origin& o) {
        sessions.erase(s);
        if (auto it = per_address.find(o.remote_address); it != per_address.end() && --it->second == 0)
            per_address.erase(it);
    }

    // One line per 10 s, with how many were refused since: a flood must not flood the journal.
    void log_refusal(const std::string& remote, const char* why) {
        const auto now = std::chrono::steady_clock::now();
        ++refused_since_log;
        if (now - last_refusal_log < std::chrono::seconds(10)) return;
        log::warning("HTTPS connection refused", {{"remote", remote},
                                                  {"reason", why},
                                                  {"refused_since_last_line", std::to_string(refused_since_log)}});
        last_refusal_log = now;
        refused_since_log = 0;
    }

    void stop() {
        stopped = true;
        boost::system::error_code ec;
        for (auto& acc : acceptors) acc->close(ec);
        std::vector<TlsSession*> live(sessions.begin(), sessions.end());
        for (TlsSession* s : live) s->close();
        handler = nullptr;
    }

    asio::io_context& io;
    HttpsSettings settings;
    ServerLimits limits;
    Handler handler;
    ssl::context tls;
    bool stopped = false;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    std::unordered_set<TlsSession*> sessions;
    std::unordered_map<std::string, std::size_t> per_address;
    std::chrono::steady_clock::time_point last_refusal_log{};
    std::size_t refused_since_log = 0;
};

}  // namespace

struct HttpsServer::Impl : TlsServerState {
    using TlsServerState::TlsServerState;
};

HttpsServer::HttpsServer(asio::io_context& io, HttpsSettings settings, ServerLimits limits, Handler handler)
    : impl_(std::make_shared<Impl>(io, std::move(settings), limits, std::move(handler))) {
    impl_->open();
}

HttpsServer::~HttpsServer() {
    if (impl_) impl_->stop();
}

std::vector<std::string> HttpsServer::endpoints() const {
    std::vector<std::string> out;
    for (const auto& acc : impl_->acceptors) {
        boost::system::error_code ec;
        const auto ep = acc->local_endpoint(ec);
        if (!ec) out.push_back(endpoint_text(ep));
    }
    return out;
}

}  // namespace portal::api
