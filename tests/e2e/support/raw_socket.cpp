#include "tests/e2e/support/raw_socket.h"
#include "tests/e2e/support/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace portal::e2e {

namespace {

using Clock = std::chrono::steady_clock;

int connect_unix(const std::string& path, int& err) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
        return -1;
    }
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        err = errno;
        ::close(fd);
        return -1;
    }
    return fd;
}

Exchange converse_here(const std::string& path, const std::string& data, int wait_for_nuls,
                       std::chrono::milliseconds timeout) {
    Exchange x;
    const int fd = connect_unix(path, x.connect_errno);
    if (fd < 0) return x;
    x.connected = true;
    const auto deadline = Clock::now() + timeout;
    // Send and receive together: a server that answers early and closes must not make us
    // block on a full send buffer.
    std::size_t sent = 0;
    char buf[65536];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) break;
        pollfd p{fd, static_cast<short>(POLLIN | (sent < data.size() && !x.send_failed ? POLLOUT : 0)), 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 100)));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        if ((p.revents & POLLOUT) && sent < data.size()) {
            const ssize_t w = ::send(fd, data.data() + sent, std::min<std::size_t>(data.size() - sent, 65536),
                                     MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) sent += static_cast<std::size_t>(w);
            else if (w < 0 && errno != EAGAIN && errno != EINTR) x.send_failed = true;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r > 0) {
                x.reply.append(buf, static_cast<std::size_t>(r));
                if (wait_for_nuls > 0 && std::count(x.reply.begin(), x.reply.end(), '\0') >= wait_for_nuls &&
                    sent == data.size())
                    break;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                x.closed_by_peer = true;
                break;
            }
        }
    }
    if (sent < data.size()) x.send_failed = true;
    ::close(fd);
    return x;
}

// "<connected> <errno> <send_failed> <closed> <len>\n<reply>"
std::string encode(const Exchange& x) {
    std::ostringstream o;
    o << x.connected << ' ' << x.connect_errno << ' ' << x.send_failed << ' ' << x.closed_by_peer << ' '
      << x.reply.size() << '\n';
    return o.str() + x.reply;
}

bool decode(const std::string& s, Exchange& x) {
    const auto nl = s.find('\n');
    if (nl == std::string::npos) return false;
    std::istringstream head(s.substr(0, nl));
    std::size_t len = 0;
    if (!(head >> x.connected >> x.connect_errno >> x.send_failed >> x.closed_by_peer >> len)) return false;
    if (nl + 1 + len != s.size()) return false;
    x.reply = s.substr(nl + 1);
    return true;
}

}  // namespace

std::string Exchange::describe() const {
    std::ostringstream o;
    o << "connected=" << connected;
    if (!connected) o << " (" << std::strerror(connect_errno) << ")";
    o << " send_failed=" << send_failed << " closed_by_peer=" << closed_by_peer << " reply(" << reply.size()
      << ")=";
    std::string shown = reply.substr(0, 400);
    std::replace(shown.begin(), shown.end(), '\0', '|');
    return o.str() + shown;
}

Exchange converse(const std::filesystem::path& path, const std::string& data, int wait_for_nuls,
                  std::chrono::milliseconds timeout, const std::optional<Credentials>& as) {
    if (!as) return converse_here(path.string(), data, wait_for_nuls, timeout);
    Exchange x;
    const auto buf = in_child([&] {
        Exchange c;
        if (::setgroups(as->groups.size(), as->groups.data()) != 0 || ::setgid(as->gid) != 0 ||
            ::setuid(as->uid) != 0) {
            c.connect_errno = errno;
        } else {
            c = converse_here(path.string(), data, wait_for_nuls, timeout);
        }
        return encode(c);
    });
    if (!buf) return x;
    decode(*buf, x);
    return x;
}

HeldConnection::HeldConnection(const std::filesystem::path& path) {
    int err = 0;
    fd_ = connect_unix(path.string(), err);
}

HeldConnection::~HeldConnection() {
    if (fd_ >= 0) ::close(fd_);
}

bool HeldConnection::send(const std::string& data) {
    return fd_ >= 0 && ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}

std::string nul_framed(const nlohmann::json& message) { return message.dump() + std::string(1, '\0'); }

nlohmann::json first_json(const Exchange& x) {
    auto j = nlohmann::json::parse(x.first_message(), nullptr, false);
    return j.is_discarded() ? nlohmann::json() : j;
}

}  // namespace portal::e2e
