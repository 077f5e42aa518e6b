// The io.systemd.UserDatabase Varlink provider at <socket_directory>/<service>: answers
// GetUserRecord, GetGroupRecord and GetMemberships from memory (the last update()), on the
// io_context it is given (the daemon's login thread). Memberships (roles -> groups, the 2FA group) exist only through it, so
// with the daemon down users keep resolving (drop-ins) but lose the extra groups.
// Protocol details and errors: keyd/userdb/user_database.h.
#pragma once
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_set>

#include "keyd/userdb/config.h"
#include "shared/ipc/login_state.h"

namespace boost::asio {
class io_context;
}

namespace portal::userdb {

class Provider {
public:
    // Binds the socket (mode 0666: every process's NSS asks it), replacing a stale socket
    // file; throws std::runtime_error when the path is held by a live provider or is not a
    // socket, or cfg.service is not a plain file name. Serves an empty database (plus the 2FA
    // group) until the first update(). Construct and destroy it while the io_context is not
    // running or on its thread; update() may be called from any thread.
    Provider(boost::asio::io_context& io, UserdbConfig cfg);
    ~Provider();  // closes every connection and removes the socket
    Provider(const Provider&) = delete;
    Provider& operator=(const Provider&) = delete;

    // The planned state (published members only are served). Checks through NSS which
    // configured groups exist locally (role groups, the 2FA group). Connections in the middle
    // of an enumeration finish it on the snapshot they started with.
    // `changed` (optional): names of members that may differ from the last update's; the
    // records of the others are reused.
    void update(std::shared_ptr<const ipc::LoginState> planned, const std::unordered_set<std::string>* changed = nullptr);

    // A connection that neither sends a complete request nor accepts reply bytes for this
    // long is closed (default 10 s).
    void set_idle_timeout(std::chrono::milliseconds timeout);
    const std::filesystem::path& socket_path() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace portal::userdb
