// The API over HTTPS (TLS 1.2+ over TCP, Boost.Beast ssl_stream over OpenSSL): the same
// handler as the local socket; who the caller is comes from the request's Bearer credential
// (the router), never from the connection. Off unless "[listen] https" names addresses.
//
// Slow or idle clients cannot hold it: a handshake must finish within handshake_timeout, a
// request within request_timeout, a keep-alive connection idles at most idle_timeout, and
// connections are capped in total and per client address (beyond: closed at accept).
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "keyd/api/http_server.h"
#include "keyd/net/listen_address.h"
#include "keyd/net/tls_identity.h"

namespace portal::api {

struct HttpsSettings {
    std::vector<net::ListenAddress> listen;
    net::TlsIdentity identity;
    std::size_t max_connections = 1024;             // handshaking or served, all clients
    std::size_t max_connections_per_address = 256;  // one client address (NAT: many hosts)
};

class HttpsServer {
public:
    // Loads the certificate and key, binds and listens on every address. Throws
    // std::runtime_error naming the address or file on failure.
    HttpsServer(boost::asio::io_context& io, HttpsSettings settings, ServerLimits limits, Handler handler);
    ~HttpsServer();  // stops accepting, closes every connection
    HttpsServer(const HttpsServer&) = delete;
    HttpsServer& operator=(const HttpsServer&) = delete;

    // What it listens on, with the ports bound ("127.0.0.1:41234", "[::]:8443").
    std::vector<std::string> endpoints() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace portal::api
