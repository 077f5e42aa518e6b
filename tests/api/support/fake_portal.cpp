#include "tests/api/support/fake_portal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdlib.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <stdexcept>

#include "keyd/net/tls_identity.h"

namespace portal::test {
namespace {

int listen_loopback(int port) {
    std::signal(SIGPIPE, SIG_IGN);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket");
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port));
    }
    return fd;
}

// Waits up to 100 ms for `fd` to become readable.
bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 100) > 0;
}

void reset_close(int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
}

// A certificate whose validity ended yesterday, its own CA (so a CA file check fails on the
// date, not on the chain).
void write_expired_pair(const std::filesystem::path& cert, const std::filesystem::path& key) {
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -2L * 86400);
    X509_gmtime_adj(X509_getm_notAfter(x), -1L * 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                                     std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                                     std::pair{NID_key_usage, "critical,digitalSignature,keyCertSign"}}) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, pkey, EVP_sha256());
    FILE* c = std::fopen(cert.c_str(), "w");
    FILE* k = std::fopen(key.c_str(), "w");
    if (!c || !k) throw std::runtime_error("cannot write the expired pair");
    PEM_write_X509(c, x);
    PEM_write_PrivateKey(k, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(c);
    std::fclose(k);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

const char* reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 304: return "Not Modified";
        case 401: return "Unauthorized";
        case 404: return "Not Found";
        case 410: return "Gone";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

}  // namespace

FakePortal::FakePortal(const std::string& name, bool expired) {
    std::filesystem::create_directories(PORTAL_TEST_TMP);
    std::string templ = (std::filesystem::path(PORTAL_TEST_TMP) / (name + "-XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp " + templ);
    dir_ = templ;
    const auto& dir = dir_;
    if (expired) {
        cert_ = dir / "expired-cert.pem";
        key_ = dir / "expired-key.pem";
        write_expired_pair(cert_, key_);
        pin_ = net::spki_pin_of_file(cert_);
    } else {
        const auto id = net::self_signed_tls_identity(dir / "fake-portal-tls", "fake-portal");
        cert_ = id.certificate;
        key_ = id.private_key;
        pin_ = id.pin;
    }
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert_.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_.c_str(), SSL_FILETYPE_PEM) != 1)
        throw std::runtime_error("fake portal: cannot load its key pair");
    ctx_ = ctx;
    listen_fd_ = listen_loopback(0);
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { serve(); });
}

FakePortal::~FakePortal() {
    stopping_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : connections_)
        if (t.joinable()) t.join();
    ::close(listen_fd_);
    SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void FakePortal::answer(const std::string& path, ScriptedAnswer a) {
    std::lock_guard lock(mu_);
    answers_[path] = std::move(a);
}

int FakePortal::requests(const std::string& path) const {
    std::lock_guard lock(mu_);
    const auto it = counts_.find(path);
    return it == counts_.end() ? 0 : it->second;
}

FakePortal::SeenRequest FakePortal::last_request(const std::string& path) const {
    std::lock_guard lock(mu_);
    const auto it = last_requests_.find(path);
    return it == last_requests_.end() ? SeenRequest{} : it->second;
}

std::string FakePortal::last_authorization() const {
    std::lock_guard lock(mu_);
    return last_authorization_;
}

void FakePortal::serve() {
    while (!stopping_) {
        if (!readable(listen_fd_)) continue;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        std::lock_guard lock(mu_);
        connections_.emplace_back([this, fd] { handle(fd); });
    }
}

void FakePortal::handle(int fd) {
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
    SSL_set_fd(ssl, fd);
    auto done = [&] {
        SSL_free(ssl);
        ::close(fd);
    };
    if (SSL_accept(ssl) != 1) return done();
    std::string in;
    char buf[16384];
    for (;;) {
        // One request: headers, then Content-Length bytes of body.
        std::size_t end;
        while ((end = in.find("\r\n\r\n")) == std::string::npos) {
            if (stopping_) return done();
            if (SSL_pending(ssl) == 0 && !readable(fd)) continue;
            const int n = SSL_read(ssl, buf, sizeof buf);
            if (n <= 0) return done();
            in.append(buf, static_cast<std::size_t>(n));
        }
        const std::string head = in.substr(0, end);
        std::size_t length = 0;
        std::string authorization;
        std::map<std::string, std::string> headers;
        std::size_t pos = head.find("\r\n");
        while (pos != std::string::npos && pos < head.size()) {
            const std::size_t next = head.find("\r\n", pos + 2);
            const std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
            const auto colon = line.find(':');
            if (colon != std::string::npos) {
                std::string name = line.substr(0, colon);
                for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                std::string value = line.substr(colon + 1);
                while (!value.empty() && value.front() == ' ') value.erase(0, 1);
                if (name == "content-length") length = std::stoul(value);
                if (name == "authorization") authorization = value;
                headers[name] = value;
            }
            pos = next;
        }
        while (in.size() < end + 4 + length) {
            if (stopping_) return done();
            if (SSL_pending(ssl) == 0 && !readable(fd)) continue;
            const int n = SSL_read(ssl, buf, sizeof buf);
            if (n <= 0) return done();
            in.append(buf, static_cast<std::size_t>(n));
        }
        const std::string body = in.substr(end + 4, length);
        in.erase(0, end + 4 + length);
        const auto sp1 = head.find(' ');
        const auto sp2 = head.find(' ', sp1 + 1);
        std::string path = head.substr(sp1 + 1, sp2 - sp1 - 1);
        path = path.substr(0, path.find('?'));
        ScriptedAnswer a;
        {
            std::lock_guard lock(mu_);
            ++counts_[path];
            last_authorization_ = authorization;
            last_requests_[path] = SeenRequest{head.substr(0, sp1), std::move(headers), body};
            const auto it = answers_.find(path);
            if (it != answers_.end()) a = it->second;
            else {
                a.status = 404;
                a.body = R"({"code":"NOT_FOUND","message":"not scripted"})";
            }
        }
        for (int waited = 0; waited < a.hold_ms && !stopping_; waited += 50)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::string out = "HTTP/1.1 " + std::to_string(a.status) + " " + reason(a.status) + "\r\n";
        if (!a.body.empty()) out += "Content-Type: application/json\r\n";
        for (const auto& [k, v] : a.headers) out += k + ": " + v + "\r\n";
        out += "Content-Length: " + std::to_string(a.body.size()) + "\r\n\r\n";
        const bool cut = a.cut_body_at < a.body.size();
        out += cut ? a.body.substr(0, a.cut_body_at) : a.body;
        if (SSL_write(ssl, out.data(), static_cast<int>(out.size())) <= 0) return done();
        if (cut) {
            SSL_free(ssl);
            reset_close(fd);
            return;
        }
    }
}

FaultProxy::FaultProxy(int port, int upstream) : upstream_(upstream) {
    listen_fd_ = listen_loopback(port);
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { serve(); });
}

FaultProxy::~FaultProxy() {
    stopping_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : pumps_)
        if (t.joinable()) t.join();
    ::close(listen_fd_);
}

void FaultProxy::set_mode(Mode m, int amount) {
    amount_ = amount;
    mode_ = m;
    if (m == Mode::reset || m == Mode::truncate) ++generation_;
}

void FaultProxy::serve() {
    std::vector<int> held;  // blackholed: accepted, never read, never answered
    while (!stopping_) {
        if (!readable(listen_fd_)) continue;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        ++accepted_;
        const Mode m = mode_;
        if (m == Mode::reset) {
            reset_close(fd);
        } else if (m == Mode::blackhole) {
            held.push_back(fd);
        } else {
            std::lock_guard lock(mu_);
            pumps_.emplace_back([this, fd] { pump(fd); });
        }
    }
    for (int fd : held) ::close(fd);
}

void FaultProxy::pump(int client) {
    const int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(upstream_.load()));
    if (up < 0 || ::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        if (up >= 0) ::close(up);
        reset_close(client);
        return;
    }
    const unsigned generation = generation_;
    std::size_t from_upstream = 0;
    char buf[16384];
    for (;;) {
        if (stopping_ || generation_ != generation) {
            reset_close(client);
            reset_close(up);
            return;
        }
        auto frozen = [this] { return mode_ == Mode::stall || mode_ == Mode::blackhole; };
        if (frozen()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            continue;
        }
        pollfd p[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
        if (::poll(p, 2, 100) <= 0 || frozen()) continue;
        for (int i = 0; i < 2; ++i) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
            if (n <= 0) {
                ::close(client);
                ::close(up);
                return;
            }
            if (mode_ == Mode::delay) std::this_thread::sleep_for(std::chrono::milliseconds(amount_.load()));
            std::size_t len = static_cast<std::size_t>(n);
            bool cut = false;
            if (i == 1 && mode_ == Mode::truncate) {
                const auto limit = static_cast<std::size_t>(amount_.load());
                if (from_upstream + len >= limit) {
                    len = limit > from_upstream ? limit - from_upstream : 0;
                    cut = true;
                }
                from_upstream += len;
            }
            const int to = i == 0 ? up : client;
            if (len > 0 && ::write(to, buf, len) != static_cast<ssize_t>(len)) cut = true;
            if (cut) {
                reset_close(client);
                reset_close(up);
                return;
            }
        }
    }
}

}  // namespace portal::test
