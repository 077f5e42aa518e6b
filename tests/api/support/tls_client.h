// A TLS client for the HTTPS listener's tests, on OpenSSL directly: protocol versions and
// cipher suites that curl refuses to offer, connections from a chosen source address,
// handshakes left unfinished, many idle connections at once.
#pragma once
#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace portal::test {

// A TCP connection to ip:port, bound to `source` first when given ("127.0.0.2"). -1 on error.
int tcp_connect(const std::string& ip, int port, const std::string& source = "");

// Whether the peer closed within `seconds` (reads and drops whatever it sends first).
bool closed_within(int fd, int seconds);

struct TlsOptions {
    int min_version = TLS1_2_VERSION;
    int max_version = 0;  // 0: the newest
    std::string ciphers;  // TLS 1.2 cipher list; "" = OpenSSL's default
    int security_level = -1;  // -1: OpenSSL's default; 0 lets a client offer TLS 1.0/1.1
};

class TlsConnection {
public:
    TlsConnection(const std::string& ip, int port, const TlsOptions& opts = {}, const std::string& source = "");
    ~TlsConnection();
    TlsConnection(const TlsConnection&) = delete;
    TlsConnection& operator=(const TlsConnection&) = delete;

    bool handshake();             // false: see error()
    const std::string& error() const { return error_; }  // OpenSSL's reason, e.g. "tlsv1 alert protocol version"
    std::string protocol() const;  // "TLSv1.3" after a handshake
    // Sends a request and reads until the peer closes or `timeout_seconds`; the raw response.
    std::string round_trip(const std::string& request, int timeout_seconds = 10);
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    std::string error_;
};

}  // namespace portal::test
