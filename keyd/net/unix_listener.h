// The daemon's listening Unix sockets (API, login, userdb provider) are all created the same
// careful way: never over a file that is not a socket, never over a live server, the final
// mode set before listen(), and removed at the end only if the file is still ours.
#pragma once
#include <sys/types.h>

#include <filesystem>

#include <boost/asio/local/stream_protocol.hpp>

namespace portal::net {

using stream = boost::asio::local::stream_protocol;

// The socket file a listener bound, by identity: a successor may bind a new file at the
// same path, and that one must not be removed by us.
struct SocketFile {
    std::filesystem::path path;
    dev_t dev = 0;
    ino_t ino = 0;
    void remove_if_ours() const;
};

// Opens `acceptor`, binds it at `path`, sets `mode` and listens. An existing file at `path`:
// a non-socket is refused (EEXIST), a socket something answers on means another server runs
// (EADDRINUSE), a stale socket is removed. The probe does not block, so a live but stuck
// server cannot hang the start. Throws std::system_error naming the path; on error nothing
// of ours is left at `path`.
SocketFile listen_unix(stream::acceptor& acceptor, const std::filesystem::path& path, mode_t mode);

}  // namespace portal::net
