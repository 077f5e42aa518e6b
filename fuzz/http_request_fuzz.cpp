// Raw bytes on the API socket: the real HttpServer (Boost.Beast's request parser, the
// limits, target splitting and percent-decoding of http_server.cpp) on a Unix socket in a
// temp dir. Each input is written by a fresh client that then half-closes; the server's
// answer must be HTTP, and whatever reaches the handler must be a well-formed Request.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "fuzz/support/temp_dir.h"
#include "keyd/api/http_server.h"
#include "keyd/log/log.h"
#include "shared/ipc/unique_fd.h"

namespace {

using portal::ipc::UniqueFd;

portal::api::Response check_request(const portal::api::Request& req) {
    if (req.target.empty() || req.target.front() != '/') std::abort();
    if (req.path.find('\0') != std::string::npos) std::abort();
    for (const auto& [key, value] : req.query)
        if (key.find('\0') != std::string::npos || value.find('\0') != std::string::npos) std::abort();
    for (const auto& [name, value] : req.headers)
        for (char c : name)
            if (c >= 'A' && c <= 'Z') std::abort();  // stored lower-case
    if (req.body.size() > 4096) std::abort();  // over the limit is 413, never the handler
    // Echo a little of the request back, through the server's response checks.
    return {200, {{"x-path-bytes", std::to_string(req.path.size())}}, R"({"ok":true})"};
}

struct Server {
    portal::fuzz::TempDir dir;
    boost::asio::io_context io{1};
    std::string socket_path = (dir.path() / "api.sock").string();
    std::unique_ptr<portal::api::HttpServer> http;

    Server() {
        ::signal(SIGPIPE, SIG_IGN);
        portal::log::init(portal::log::Level::error);
        portal::api::ServerLimits limits;
        limits.max_body_bytes = 4096;  // small limits so that inputs reach them
        limits.max_header_bytes = 2048;
        http = std::make_unique<portal::api::HttpServer>(io, socket_path, 0600, limits, check_request);
    }
};

UniqueFd connect_to(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) std::abort();
    return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Server server;
    UniqueFd client = connect_to(server.socket_path);
    ::fcntl(client.get(), F_SETFL, O_NONBLOCK);
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    std::string answer;
    bool half_closed = false;
    // One thread plays both sides: write what the socket takes, let the server run, read
    // its answer, until the server closes the connection.
    for (;;) {
        while (!rest.empty()) {
            const ssize_t n = ::send(client.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
            if (n <= 0) break;
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
        if (rest.empty() && !half_closed) {
            ::shutdown(client.get(), SHUT_WR);
            half_closed = true;
        }
        char buf[4096];
        const ssize_t n = ::recv(client.get(), buf, sizeof buf, 0);
        if (n > 0) answer.append(buf, static_cast<std::size_t>(n));
        else if (n == 0) break;
        else if (errno == ECONNRESET || errno == EPIPE) break;
        else if (errno != EAGAIN && errno != EINTR) std::abort();
        else {
            // Nothing to read yet: let the server run its next handler (it wakes at once
            // when its socket is ready; the bound only matters if it stalls).
            server.io.restart();
            server.io.run_one_for(std::chrono::milliseconds(100));
        }
    }
    // The server answers in HTTP or not at all.
    if (!answer.empty() && answer.rfind("HTTP/1.", 0) != 0) std::abort();
    return 0;
}
