// The project's own HTTP request/response types: everything above the socket layer
// (router, handlers) sees these, never Beast, so it compiles fast and reads plainly.
#pragma once
#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portal::api {

// Header names are stored lower-case.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct PeerCredentials {
    pid_t pid = -1;
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
};

// Which listener a request came through: the local socket (the caller is the peer uid) or
// HTTPS (the caller is whoever the Bearer credential names; remote_address is the client).
enum class Transport { unix_socket, https };

struct Request {
    std::string method;                          // "GET", "POST", ...
    std::string target;                          // raw request target, "/v1/x?page=2"
    std::string path;                            // raw path as sent (still percent-encoded), no query;
                                                 // the router decodes each segment after splitting
    std::multimap<std::string, std::string> query;  // percent-decoded query parameters
    Headers headers;
    std::string body;
    Transport transport = Transport::unix_socket;
    PeerCredentials peer;                        // unix_socket: from SO_PEERCRED, taken at accept()
    std::string remote_address;                  // https: the client's IP address ("192.0.2.7", "2001:db8::1")

    std::optional<std::string> header(const std::string& lower_name) const {
        for (const auto& [k, v] : headers)
            if (k == lower_name) return v;
        return std::nullopt;
    }
};

struct Response;
// Completes a deferred response: call it once, on the server's io thread.
using Respond = std::function<void(Response)>;

struct Response {
    int status = 200;
    Headers headers;  // Content-Type is added by the server when body is non-empty and none is set
    std::string body;
    // Set: the answer comes later (a long-poll). The connection calls it with the function
    // that sends the answer; status, headers and body above are then unused.
    std::function<void(Respond)> deferred;
};

}  // namespace portal::api
