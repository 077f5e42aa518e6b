#include "shared/ipc/login_client.h"

#include <cerrno>
#include <cstring>
#include <thread>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "shared/ipc/framing.h"
#include "shared/ipc/trust.h"
#include "shared/ipc/unique_fd.h"

namespace portal::ipc {

using nlohmann::json;

namespace {

std::string errno_text(std::string_view what, int err) {
    std::string s(what);
    s += ": ";
    s += std::strerror(err);
    return s;
}

// The socket file must be a socket owned by a trusted uid and not writable by others
// (a writable socket inode lets anyone replace it).
bool check_socket_file(const std::string& path, std::string& error) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        error = errno_text("socket " + path, errno);
        return false;
    }
    if (!S_ISSOCK(st.st_mode)) error = "socket " + path + ": not a socket";
    else if (!is_trusted_uid(st.st_uid)) error = "socket " + path + ": not owned by root";
    else if (st.st_mode & S_IWOTH) error = "socket " + path + ": writable by others";
    else return true;
    return false;
}

// Non-blocking connect bounded by the deadline. AF_UNIX answers EAGAIN when the listen
// backlog is full: retry briefly rather than block.
UniqueFd connect_socket(const std::string& path, const Deadline& deadline, std::string& error) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        error = "socket path too long";
        return {};
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        error = errno_text("socket", errno);
        return {};
    }
    for (;;) {
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
        const int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN) {
            if (deadline.expired()) {
                error = "connect: timed out (backlog full)";
                return {};
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        if (err == EINPROGRESS) {
            pollfd p{fd.get(), POLLOUT, 0};
            int n;
            while ((n = ::poll(&p, 1, deadline.remaining_ms())) < 0 && errno == EINTR) {
            }
            if (n <= 0) {
                error = n == 0 ? "connect: timed out" : errno_text("connect", errno);
                return {};
            }
            int so_error = 0;
            socklen_t len = sizeof so_error;
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
            if (so_error == 0) return fd;
            error = errno_text("connect " + path, so_error);
            return {};
        }
        error = errno_text("connect " + path, err);
        return {};
    }
}

bool check_peer(int fd, std::string& error) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        error = errno_text("SO_PEERCRED", errno);
        return false;
    }
    if (!is_trusted_uid(cred.uid)) {
        error = "server runs as uid " + std::to_string(cred.uid) + ", not root";
        return false;
    }
    return true;
}

void wipe(std::string& s) {
    if (!s.empty()) explicit_bzero(s.data(), s.size());
    s.clear();
}

template <class T, class Parse>
CallResult<T> typed_call(const LoginClient& client, std::string request_bytes, Parse parse) {
    CallResult<T> out;
    json params;
    out.status = client.call(request_bytes, params, out.error);
    wipe(request_bytes);
    if (out.status != CallStatus::ok) return out;
    std::string error;
    if (auto v = parse(params, error)) {
        out.value = std::move(*v);
    } else {
        out.status = CallStatus::unavailable;
        out.error = "bad reply: " + error;
    }
    return out;
}

}  // namespace

CallStatus LoginClient::call(std::string& request_bytes, json& params, std::string& error) const {
    const Deadline deadline = Deadline::after(options_.timeout);
    if (!check_socket_file(options_.socket_path, error)) return CallStatus::unavailable;
    UniqueFd fd = connect_socket(options_.socket_path, deadline, error);
    if (!fd) return CallStatus::unavailable;
    if (!check_peer(fd.get(), error)) return CallStatus::unavailable;

    if (auto r = write_all(fd.get(), request_bytes, deadline); !r) {
        error = "send: " + std::string(to_string(r.status)) + (r.err ? " (" + std::string(std::strerror(r.err)) + ")" : "");
        return CallStatus::unavailable;
    }
    MessageBuffer buffer(kMaxReplyBytes);
    std::string text;
    if (auto r = read_message(fd.get(), buffer, text, deadline); !r) {
        error = "reply: " + std::string(to_string(r.status)) + (r.err ? " (" + std::string(std::strerror(r.err)) + ")" : "");
        return CallStatus::unavailable;
    }
    auto message = parse_message(text, error);
    if (!message) return CallStatus::unavailable;
    auto it = message->find("parameters");
    if (auto e = message->find("error"); e != message->end()) {
        error = e->is_string() ? e->get<std::string>() : "error";
        if (it != message->end() && it->is_object()) {
            auto m = it->find("message");
            if (m != it->end() && m->is_string()) error += ": " + m->get<std::string>().substr(0, 200);
        }
        return CallStatus::failed;
    }
    if (it == message->end() || !it->is_object()) {
        error = "bad reply: parameters missing";
        return CallStatus::unavailable;
    }
    params = std::move(*it);
    return CallStatus::ok;
}

CallResult<GetAuthorizedKeysReply> LoginClient::get_authorized_keys(std::string_view user,
                                                                    std::optional<std::string_view> fingerprint) const {
    GetAuthorizedKeysRequest q{std::string(user), {}};
    if (fingerprint) q.fingerprint = std::string(*fingerprint);
    return typed_call<GetAuthorizedKeysReply>(*this, encode_message(request_message(q)),
                                              parse_get_authorized_keys_reply);
}

CallResult<CheckAccountReply> LoginClient::check_account(std::string_view user, std::string_view rhost,
                                                         std::string_view service) const {
    CheckAccountRequest q{std::string(user), std::string(rhost), std::string(service)};
    return typed_call<CheckAccountReply>(*this, encode_message(request_message(q)), parse_check_account_reply);
}

CallResult<VerifyCodeReply> LoginClient::verify_code(std::string_view user, std::string_view code,
                                                     std::string_view rhost, std::string_view service) const {
    VerifyCodeRequest q{std::string(user), std::string(code), std::string(rhost), std::string(service)};
    Request r(std::move(q));
    std::string bytes = encode_message(request_message(r));
    wipe(std::get<VerifyCodeRequest>(r).code);
    return typed_call<VerifyCodeReply>(*this, std::move(bytes), parse_verify_code_reply);
}

CallResult<SessionEventReply> LoginClient::session_event(std::string_view user, SessionEventKind event,
                                                         std::string_view rhost, std::string_view service,
                                                         std::string_view tty) const {
    SessionEventRequest q{std::string(user), event, std::string(rhost), std::string(service), std::string(tty)};
    return typed_call<SessionEventReply>(*this, encode_message(request_message(q)),
                                         [](const json&, std::string&) { return std::optional<SessionEventReply>(SessionEventReply{}); });
}

}  // namespace portal::ipc
