#include "keyd/net/unix_listener.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <boost/asio/socket_base.hpp>

namespace portal::net {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

[[noreturn]] void fail(int err, const std::string& what) {
    throw std::system_error(err, std::generic_category(), what);
}

void remove_stale(stream::acceptor& acceptor, const std::filesystem::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        fail(errno, "lstat " + path.string());
    }
    if (!S_ISSOCK(st.st_mode)) fail(EEXIST, "refusing to replace non-socket " + path.string());
    stream::socket probe(acceptor.get_executor());
    error_code ec;
    probe.open(stream(), ec);
    if (!ec) probe.non_blocking(true, ec);
    if (!ec) probe.connect(stream::endpoint(path.string()), ec);
    if (!ec || ec == asio::error::would_block || ec == asio::error::try_again)
        fail(EADDRINUSE, "a server is already listening on " + path.string());
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail(errno, "unlink " + path.string());
}

}  // namespace

void SocketFile::remove_if_ours() const {
    struct stat st {};
    if (!path.empty() && ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev && st.st_ino == ino)
        ::unlink(path.c_str());
}

SocketFile listen_unix(stream::acceptor& acceptor, const std::filesystem::path& path, mode_t mode) {
    remove_stale(acceptor, path);
    const stream::endpoint ep(path.string());
    error_code ec;
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (ec) {
        error_code ignored;
        acceptor.close(ignored);
        throw std::system_error(ec, "bind " + path.string());
    }
    SocketFile file{path, 0, 0};
    auto undo = [&](int err, const std::string& what) {
        error_code ignored;
        acceptor.close(ignored);
        ::unlink(path.c_str());
        fail(err, what);
    };
    // chmod before listen(): nobody can connect while the umask-derived mode is in place.
    struct stat st {};
    if (::chmod(path.c_str(), mode & 07777) != 0) undo(errno, "chmod " + path.string());
    if (::lstat(path.c_str(), &st) != 0) undo(errno, "lstat " + path.string());
    file.dev = st.st_dev;
    file.ino = st.st_ino;
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) undo(ec.value(), "listen " + path.string() + ": " + ec.message());
    return file;
}

}  // namespace portal::net
