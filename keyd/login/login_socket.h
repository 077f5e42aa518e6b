// The login socket (docs/LOGIN_PROTOCOL.md) on the login thread's io_context: NUL-framed JSON
// requests dispatched to an ipc::LoginHandler. Who may connect is decided by SO_PEERCRED at
// accept time (root and the keys helper's user); everybody else is closed at once.
// The file is 0660 root:<helper's group> (0600 without one), not 0666: the login client
// (shared/ipc/login_client.cpp) refuses a socket writable by others, and the helper needs
// write permission on the inode to connect.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "shared/ipc/login_server.h"

namespace boost::asio {
class io_context;
}

namespace portal::login {

struct LoginSocketLimits {
    std::chrono::milliseconds idle_timeout{10000};  // no complete request for this long: close
    std::size_t max_connections = 128;              // beyond this, new connections are closed at once
};

class LoginSocket {
public:
    // Binds `path` (replacing a stale socket, refusing a live one), mode 0600, listens.
    // Throws std::system_error. `handler` must outlive the io_context's handlers.
    LoginSocket(boost::asio::io_context& io, const std::filesystem::path& path, ipc::LoginHandler& handler,
                LoginSocketLimits limits = {});
    ~LoginSocket();  // stops accepting, closes connections, removes the socket file
    LoginSocket(const LoginSocket&) = delete;
    LoginSocket& operator=(const LoginSocket&) = delete;

    // uids allowed besides root (the helper user, resolved at start and on reload), and the
    // group that may open the socket file (the helper's: mode 0660; none: 0600). Returns
    // false (logged) when the file's group or mode cannot be set; the uid list applies anyway.
    // Safe to call from any thread.
    bool set_access(std::vector<uid_t> uids, std::optional<gid_t> group);
    std::size_t connections() const;  // on the io_context's thread

    struct Server;  // implementation (login_socket.cpp)

private:
    std::shared_ptr<Server> server_;
};

}  // namespace portal::login
