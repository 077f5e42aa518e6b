// A fake portal-keyd login socket for tests: the project's own server code (login_server.h)
// on a temp socket, in a thread, answering from a LoginState. Header-only so the unit tests
// (tests/unit/login_client_test.cpp) and the PAM tests share it.
#pragma once
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shared/ipc/login_protocol.h"
#include "shared/ipc/login_server.h"
#include "shared/ipc/unique_fd.h"

namespace portal::test {

// Answers like the daemon would, from `state`; the 2FA code is `code` for everyone.
class StateHandler : public ipc::LoginHandler {
public:
    explicit StateHandler(ipc::LoginState s = {}) : state_(std::move(s)) {}

    void set_state(ipc::LoginState s) {
        std::lock_guard lock(mu_);
        state_ = std::move(s);
    }
    void lock_user(const std::string& user) {
        std::lock_guard lock(mu_);
        locked_.insert(user);
    }
    std::vector<ipc::Request> requests() {
        std::lock_guard lock(mu_);
        return requests_;
    }
    std::string code = "123456";

    ipc::GetAuthorizedKeysReply get_authorized_keys(const ipc::GetAuthorizedKeysRequest& q) override {
        std::lock_guard lock(mu_);
        requests_.emplace_back(q);
        return ipc::authorized_keys_for(state_, q.user, q.fingerprint, ipc::policy_of(state_));
    }
    ipc::CheckAccountReply check_account(const ipc::CheckAccountRequest& q) override {
        std::lock_guard lock(mu_);
        requests_.emplace_back(q);
        return ipc::check_account(state_, q.user, ipc::policy_of(state_));
    }
    ipc::VerifyCodeReply verify_code(const ipc::VerifyCodeRequest& q) override {
        std::lock_guard lock(mu_);
        requests_.emplace_back(q);
        const auto d = ipc::check_account(state_, q.user, ipc::policy_of(state_));
        if (!d.portal_user) return {false, ipc::VerifyResult::wrong_code, 0};
        const ipc::LoginMember* m = state_.find(q.user);
        if (!m->tfa_enabled) return {true, ipc::VerifyResult::not_enrolled, 0};
        if (locked_.count(q.user)) return {true, ipc::VerifyResult::locked, 120};
        return {true, q.code == code ? ipc::VerifyResult::ok : ipc::VerifyResult::wrong_code, 0};
    }
    ipc::SessionEventReply session_event(const ipc::SessionEventRequest& q) override {
        std::lock_guard lock(mu_);
        requests_.emplace_back(q);
        return {};
    }

private:
    std::mutex mu_;
    ipc::LoginState state_;
    std::set<std::string> locked_;
    std::vector<ipc::Request> requests_;
};

// Listens on `path` (mode 0660) and hands each connection, one at a time, to `serve`.
// `serve` gets the connection fd and a fd that becomes readable when the server stops.
class FakeLoginServer {
public:
    using Serve = std::function<void(int fd, int stop_fd)>;

    FakeLoginServer(std::string path, Serve serve) : path_(std::move(path)), serve_(std::move(serve)) { start(); }
    FakeLoginServer(std::string path, ipc::LoginHandler& handler)
        : FakeLoginServer(std::move(path), [&handler](int fd, int) {
              ipc::serve_connection(fd, handler, std::chrono::milliseconds(2000));
          }) {}
    ~FakeLoginServer() { stop(); }
    FakeLoginServer(const FakeLoginServer&) = delete;
    FakeLoginServer& operator=(const FakeLoginServer&) = delete;

    void stop() {
        if (!thread_.joinable()) return;
        (void)!::write(stop_w_.get(), "x", 1);
        thread_.join();
        ::unlink(path_.c_str());
    }
    int connections() const { return connections_.load(); }
    const std::string& path() const { return path_; }

private:
    void start() {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
        stop_r_.reset(p[0]);
        stop_w_.reset(p[1]);
        listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path_.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + path_);
        std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
        ::unlink(path_.c_str());
        if (::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
            ::chmod(path_.c_str(), 0660) != 0 || ::listen(listen_.get(), 16) != 0)
            throw std::runtime_error("listen on " + path_ + ": " + std::strerror(errno));
        thread_ = std::thread([this] { run(); });
    }

    void run() {
        for (;;) {
            pollfd fds[2] = {{listen_.get(), POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                return;
            }
            if (fds[1].revents) return;
            ipc::UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!conn) continue;
            ++connections_;
            serve_(conn.get(), stop_r_.get());
        }
    }

    std::string path_;
    Serve serve_;
    ipc::UniqueFd listen_, stop_r_, stop_w_;
    std::thread thread_;
    std::atomic<int> connections_{0};
};

}  // namespace portal::test
