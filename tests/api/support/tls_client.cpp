#include "tests/api/support/tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include <array>
#include <csignal>
#include <chrono>

namespace portal::test {

int tcp_connect(const std::string& ip, int port, const std::string& source) {
    // The daemon closes connections under these tests' feet: a write then fails with EPIPE
    // instead of killing the test runner.
    std::signal(SIGPIPE, SIG_IGN);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    if (!source.empty()) {
        if (::inet_pton(AF_INET, source.c_str(), &a.sin_addr) != 1 ||
            ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd);
            return -1;
        }
    }
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool closed_within(int fd, int seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    std::array<char, 4096> buf{};
    while (std::chrono::steady_clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) continue;
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n <= 0) return true;  // EOF or reset
    }
    return false;
}

TlsConnection::TlsConnection(const std::string& ip, int port, const TlsOptions& opts, const std::string& source) {
    fd_ = tcp_connect(ip, port, source);
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (opts.security_level >= 0) SSL_CTX_set_security_level(ctx_, opts.security_level);
    SSL_CTX_set_min_proto_version(ctx_, opts.min_version);
    if (opts.max_version) SSL_CTX_set_max_proto_version(ctx_, opts.max_version);
    if (!opts.ciphers.empty()) SSL_CTX_set_cipher_list(ctx_, opts.ciphers.c_str());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);  // the tests check the pin themselves
    ssl_ = SSL_new(ctx_);
    if (fd_ >= 0) SSL_set_fd(ssl_, fd_);
}

TlsConnection::~TlsConnection() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
}

bool TlsConnection::handshake() {
    if (fd_ < 0) {
        error_ = "cannot connect";
        return false;
    }
    ERR_clear_error();
    if (SSL_connect(ssl_) == 1) return true;
    const unsigned long e = ERR_get_error();
    error_ = e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown" : "connection closed";
    ERR_clear_error();
    return false;
}

std::string TlsConnection::protocol() const { return SSL_get_version(ssl_); }

std::string TlsConnection::round_trip(const std::string& request, int timeout_seconds) {
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return {};
    std::string out;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    std::array<char, 4096> buf{};
    while (std::chrono::steady_clock::now() < until) {
        if (SSL_pending(ssl_) == 0) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) continue;
        }
        const int n = SSL_read(ssl_, buf.data(), static_cast<int>(buf.size()));
        if (n <= 0) break;
        out.append(buf.data(), static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace portal::test
