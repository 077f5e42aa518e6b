// HTTP/1.1 server on a Unix stream socket (Boost.Beast behind this small interface).
// Peer credentials are read with SO_PEERCRED at accept time and passed with every request.
#pragma once
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>

#include "keyd/api/http_types.h"

namespace boost::asio {
class io_context;
}

namespace portal::api {

struct ServerLimits {
    std::size_t max_body_bytes = 1024 * 1024;     // larger bodies -> 413
    std::size_t max_header_bytes = 16 * 1024;     // larger header block -> 431
    std::chrono::seconds request_timeout{10};     // whole request must arrive within this
    std::chrono::seconds idle_timeout{30};        // keep-alive connection idle limit
    std::size_t max_connections = 256;            // beyond this, new connections get a short 503
    std::size_t root_reserved_connections = 16;   // of max_connections, only uid 0 may use these
    std::size_t max_connections_per_uid = 16;     // beyond this, a uid other than 0 gets a short 429
    std::size_t max_refusing = 64;                // refused connections kept open to read the request
    std::chrono::seconds handshake_timeout{10};   // HTTPS: the TLS handshake must finish within this
};

using Handler = std::function<Response(const Request&)>;
// Decides at accept whether a uid may be served at all ("is root or a portal user"). A uid
// it refuses gets one short 403 and is never counted against the connection limits, so
// unknown local users cannot crowd out the known ones. Empty: every uid is served.
using PeerFilter = std::function<bool(uid_t)>;

class HttpServer {
public:
    // Binds `socket_path` (removing a stale socket file first), chmod `mode`, listens.
    // Throws std::system_error on failure. Serving starts on the io_context's thread(s).
    HttpServer(boost::asio::io_context& io, const std::filesystem::path& socket_path, unsigned mode,
               ServerLimits limits, Handler handler, PeerFilter known_peer = {});
    ~HttpServer();  // stops accepting, removes the socket file
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace portal::api
