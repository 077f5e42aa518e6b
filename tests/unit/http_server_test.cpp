// HttpServer over a real Unix socket: the server runs on an io_context in its own thread,
// the client side is plain POSIX sockets writing raw HTTP.
#include "keyd/api/http_server.h"
#include "tests/unit/support/temp_dir.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include <future>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace http_server_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using portal::api::HttpServer;
using portal::api::Request;
using portal::api::Response;
using portal::api::ServerLimits;

namespace {

#ifndef PORTAL_TEST_TMP
#define PORTAL_TEST_TMP "/tmp"
#endif

struct Fd {
    int fd = -1;
    explicit Fd(int f = -1) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

using TempDir = portal::test::TempDir;

Response echo_handler(const Request& req) {
    if (req.path == "/throw") throw std::runtime_error("boom: secret detail");
    if (req.path == "/big") return Response{200, {{"Content-Type", "text/plain"}}, std::string(8 << 20, 'x'), {}};
    if (req.path == "/empty") return Response{204, {}, "", {}};
    nlohmann::json query = nlohmann::json::array();
    for (const auto& [k, v] : req.query) query.push_back({k, v});
    nlohmann::json j = {
        {"method", req.method},
        {"target", req.target},
        {"path", req.path},
        {"query", query},
        {"uid", req.peer.uid},
        {"gid", req.peer.gid},
        {"pid", req.peer.pid},
        {"body_len", req.body.size()},
        {"x_test", req.header("x-test").value_or("")},
    };
    return Response{200, {{"X-Echo", "1"}}, j.dump(), {}};
}

class TestServer {
public:
    explicit TestServer(ServerLimits limits = {}, unsigned mode = 0600, portal::api::PeerFilter known_peer = {},
                        portal::api::Handler handler = echo_handler)
        : sock(dir.path() / "api.sock") {
        server.emplace(io, sock, mode, limits, std::move(handler), std::move(known_peer));
        thread = std::thread([this] { io.run(); });
    }
    ~TestServer() { stop(); }
    void stop() {
        if (thread.joinable()) {
            io.stop();
            thread.join();
        }
        server.reset();  // after the io thread is gone, as the server requires
    }
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;

    TempDir dir;
    fs::path sock;
    boost::asio::io_context io;
    std::optional<HttpServer> server;
    std::thread thread;
};

Fd connect_to(const fs::path& path) {
    Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(s.fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval tv{10, 0};  // a broken server fails the test instead of hanging it
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return s;
}

// MSG_NOSIGNAL: the server may close while we still write (413); that must not kill us.
bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
};

// Reads one response. Leftover bytes stay in `buf` for the next call on the same connection.
std::optional<HttpResponse> read_response(int fd, std::string& buf) {
    auto fill = [&]() {
        char tmp[65536];
        for (;;) {
            ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            buf.append(tmp, static_cast<std::size_t>(n));
            return true;
        }
    };
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
        if (!fill()) return std::nullopt;
    HttpResponse r;
    std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    REQUIRE(status_line.rfind("HTTP/1.", 0) == 0);
    r.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        std::size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        pos = e + 2;
        auto colon = line.find(':');
        REQUIRE(colon != std::string::npos);
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers[name] = value;
    }
    std::size_t len = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (buf.size() < len)
        if (!fill()) return std::nullopt;
    r.body = buf.substr(0, len);
    buf.erase(0, len);
    return r;
}

std::optional<HttpResponse> read_response(int fd) {
    std::string buf;
    return read_response(fd, buf);
}

// True when the server closed the connection (EOF or reset) rather than sending more.
bool closed_by_server(int fd) {
    char c;
    ssize_t n;
    do n = ::recv(fd, &c, 1, 0);
    while (n < 0 && errno == EINTR);
    return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

std::optional<HttpResponse> roundtrip(const fs::path& sock, const std::string& raw) {
    Fd c = connect_to(sock);
    REQUIRE(send_all(c.fd, raw));
    return read_response(c.fd);
}

std::string get(const std::string& target, const std::string& extra = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n";
}

std::string post(const std::string& target, std::size_t body_len) {
    return "POST " + target + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
           std::to_string(body_len) + "\r\n\r\n" + std::string(body_len, 'b');
}

}  // namespace

TEST_CASE("http server: GET is served with the peer's credentials", "[http]") {
    TestServer srv;
    auto r = roundtrip(srv.sock, get("/v1/users/alice"));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->headers["content-type"] == "application/json");
    CHECK(r->headers["x-echo"] == "1");
    auto j = nlohmann::json::parse(r->body);
    CHECK(j["method"] == "GET");
    CHECK(j["path"] == "/v1/users/alice");
    CHECK(j["uid"] == ::getuid());
    CHECK(j["gid"] == ::getgid());
    CHECK(j["pid"] == ::getpid());
    CHECK(j["body_len"] == 0);
}

TEST_CASE("http server: the query is percent-decoded, the path is left to the router", "[http]") {
    TestServer srv;
    auto r = roundtrip(srv.sock, get("/a%20b/c+d?x=1&x=2&name=J%C3%B6rg+M&empty&plus=a%2Bb&&k%3D=v%26w",
                                     "X-Test: hello\r\n"));
    REQUIRE(r);
    REQUIRE(r->status == 200);
    auto j = nlohmann::json::parse(r->body);
    // Raw: the router splits first and decodes each segment, so "%2F" never separates.
    CHECK(j["path"] == "/a%20b/c+d");
    auto slash = roundtrip(srv.sock, get("/v1/a%2Fb"));
    REQUIRE(slash);
    CHECK(nlohmann::json::parse(slash->body)["path"] == "/v1/a%2Fb");
    CHECK(j["target"] == "/a%20b/c+d?x=1&x=2&name=J%C3%B6rg+M&empty&plus=a%2Bb&&k%3D=v%26w");
    CHECK(j["x_test"] == "hello");
    auto q = j["query"];
    REQUIRE(q.size() == 6);
    CHECK(q[0] == nlohmann::json::array({"empty", ""}));
    CHECK(q[1] == nlohmann::json::array({"k=", "v&w"}));
    CHECK(q[2] == nlohmann::json::array({"name", "J\xC3\xB6rg M"}));
    CHECK(q[3] == nlohmann::json::array({"plus", "a+b"}));
    CHECK(q[4] == nlohmann::json::array({"x", "1"}));
    CHECK(q[5] == nlohmann::json::array({"x", "2"}));

    for (const char* bad : {"/a%zz", "/a%2", "/a%00b", "/x?q=%0", "/x?q=%00", "*"}) {
        INFO(bad);
        auto e = roundtrip(srv.sock, get(bad));
        REQUIRE(e);
        CHECK(e->status == 400);
        CHECK(nlohmann::json::parse(e->body)["code"] == "BAD_REQUEST");
    }
}

TEST_CASE("http server: keep-alive serves two requests on one connection", "[http]") {
    TestServer srv;
    Fd c = connect_to(srv.sock);
    std::string buf;
    REQUIRE(send_all(c.fd, get("/one")));
    auto r1 = read_response(c.fd, buf);
    REQUIRE(r1);
    CHECK(nlohmann::json::parse(r1->body)["path"] == "/one");
    REQUIRE(send_all(c.fd, post("/two", 5)));
    auto r2 = read_response(c.fd, buf);
    REQUIRE(r2);
    CHECK(nlohmann::json::parse(r2->body)["path"] == "/two");
    CHECK(nlohmann::json::parse(r2->body)["body_len"] == 5);
    // Pipelined, the last one asking to close.
    REQUIRE(send_all(c.fd, get("/three") + get("/four", "Connection: close\r\n")));
    auto r3 = read_response(c.fd, buf);
    auto r4 = read_response(c.fd, buf);
    REQUIRE(r3);
    REQUIRE(r4);
    CHECK(nlohmann::json::parse(r3->body)["path"] == "/three");
    CHECK(nlohmann::json::parse(r4->body)["path"] == "/four");
    CHECK(r4->headers["connection"] == "close");
    CHECK(buf.empty());
    CHECK(closed_by_server(c.fd));
}

TEST_CASE("http server: body size limit", "[http]") {
    TestServer srv;
    SECTION("1 MiB + 1 -> 413 and close") {
        Fd c = connect_to(srv.sock);
        send_all(c.fd, post("/upload", 1024 * 1024 + 1));  // may fail with EPIPE: server closed early
        auto r = read_response(c.fd);
        REQUIRE(r);
        CHECK(r->status == 413);
        CHECK(r->headers["content-type"] == "application/json");
        CHECK(r->body == R"({"code":"PAYLOAD_TOO_LARGE","message":"request body exceeds 1048576 bytes"})");
        CHECK(closed_by_server(c.fd));
    }
    SECTION("chunked body over the limit -> 413") {
        Fd c = connect_to(srv.sock);
        std::string req = "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        std::string chunk(64 * 1024, 'c');
        for (int i = 0; i < 17; ++i) req += "10000\r\n" + chunk + "\r\n";
        req += "0\r\n\r\n";
        send_all(c.fd, req);
        auto r = read_response(c.fd);
        REQUIRE(r);
        CHECK(r->status == 413);
    }
    SECTION("exactly 1 MiB is accepted") {
        auto r = roundtrip(srv.sock, post("/upload", 1024 * 1024));
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(nlohmann::json::parse(r->body)["body_len"] == 1024 * 1024);
    }
    SECTION("Expect: 100-continue gets an interim response") {
        Fd c = connect_to(srv.sock);
        REQUIRE(send_all(c.fd, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
        std::string buf;
        auto cont = read_response(c.fd, buf);
        REQUIRE(cont);
        CHECK(cont->status == 100);
        REQUIRE(send_all(c.fd, "abc"));
        auto r = read_response(c.fd, buf);
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(nlohmann::json::parse(r->body)["body_len"] == 3);
    }
}

TEST_CASE("http server: oversized header -> 431", "[http]") {
    TestServer srv;
    Fd c = connect_to(srv.sock);
    send_all(c.fd, get("/", "X-Big: " + std::string(20 * 1024, 'h') + "\r\n"));
    auto r = read_response(c.fd);
    REQUIRE(r);
    CHECK(r->status == 431);
    CHECK(nlohmann::json::parse(r->body)["code"] == "BAD_REQUEST");
    CHECK(closed_by_server(c.fd));
}

TEST_CASE("http server: garbage -> 400 and close", "[http]") {
    TestServer srv;
    for (const char* raw : {"\x01\x02garbage\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                            "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"}) {
        INFO(raw);
        Fd c = connect_to(srv.sock);
        REQUIRE(send_all(c.fd, raw));
        auto r = read_response(c.fd);
        REQUIRE(r);
        CHECK(r->status == 400);
        CHECK(nlohmann::json::parse(r->body)["code"] == "BAD_REQUEST");
        CHECK(closed_by_server(c.fd));
    }
}

TEST_CASE("http server: a throwing handler gives 500 without details", "[http]") {
    TestServer srv;
    Fd c = connect_to(srv.sock);
    std::string buf;
    REQUIRE(send_all(c.fd, get("/throw")));
    auto r = read_response(c.fd, buf);
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK(r->body == R"({"code":"INTERNAL_ERROR","message":"internal error"})");
    // The connection stays usable.
    REQUIRE(send_all(c.fd, get("/after")));
    auto r2 = read_response(c.fd, buf);
    REQUIRE(r2);
    CHECK(r2->status == 200);
}

TEST_CASE("http server: HEAD gets the length but no body", "[http]") {
    TestServer srv;
    Fd c = connect_to(srv.sock);
    std::string buf;
    REQUIRE(send_all(c.fd, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n"));
    char tmp[4096];
    ssize_t n = ::recv(c.fd, tmp, sizeof tmp, 0);
    REQUIRE(n > 0);
    std::string head(tmp, static_cast<std::size_t>(n));
    CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(head.find("Content-Length: 0") == std::string::npos);
    CHECK(head.size() == head.find("\r\n\r\n") + 4);  // nothing after the header block
    // The connection is still in sync for the next request.
    REQUIRE(send_all(c.fd, get("/next")));
    auto r = read_response(c.fd, buf);
    REQUIRE(r);
    CHECK(nlohmann::json::parse(r->body)["path"] == "/next");
}

TEST_CASE("http server: 204 has no body and no content type", "[http]") {
    TestServer srv;
    auto r = roundtrip(srv.sock, get("/empty"));
    REQUIRE(r);
    CHECK(r->status == 204);
    CHECK(r->body.empty());
    CHECK(r->headers.count("content-type") == 0);
}

TEST_CASE("http server: slow and idle clients are dropped", "[http]") {
    ServerLimits limits;
    limits.request_timeout = 1s;
    limits.idle_timeout = 1s;
    TestServer srv(limits);
    SECTION("half a request") {
        Fd c = connect_to(srv.sock);
        auto t0 = std::chrono::steady_clock::now();
        REQUIRE(send_all(c.fd, "GET / HTTP/1.1\r\nHost: x\r\n"));
        CHECK(closed_by_server(c.fd));
        auto elapsed = std::chrono::steady_clock::now() - t0;
        CHECK(elapsed >= 900ms);
        CHECK(elapsed < 5s);
    }
    SECTION("a trickle of bytes does not extend the deadline") {
        Fd c = connect_to(srv.sock);
        auto t0 = std::chrono::steady_clock::now();
        std::string req = get("/", "X-Pad: " + std::string(100, 'p') + "\r\n");
        bool closed = false;
        for (char ch : req) {
            if (!send_all(c.fd, std::string_view(&ch, 1))) {
                closed = true;
                break;
            }
            std::this_thread::sleep_for(50ms);
        }
        CHECK(closed);
        CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    }
    SECTION("idle keep-alive connection") {
        Fd c = connect_to(srv.sock);
        REQUIRE(send_all(c.fd, get("/")));
        REQUIRE(read_response(c.fd));
        auto t0 = std::chrono::steady_clock::now();
        CHECK(closed_by_server(c.fd));
        CHECK(std::chrono::steady_clock::now() - t0 >= 900ms);
    }
}

TEST_CASE("http server: a peer that goes away mid-response does not hurt the server", "[http]") {
    TestServer srv;
    for (int i = 0; i < 3; ++i) {
        Fd c = connect_to(srv.sock);
        REQUIRE(send_all(c.fd, get("/big")));
        char tmp[100];
        REQUIRE(::recv(c.fd, tmp, sizeof tmp, 0) > 0);  // the response has started
    }  // closed with most of the 8 MiB unread: the server's write fails with EPIPE/ECONNRESET
    auto r = roundtrip(srv.sock, get("/still-alive"));
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("http server: connections beyond max_connections get a short 503", "[http]") {
    ServerLimits limits;
    limits.max_connections = 2;
    TestServer srv(limits);
    Fd a = connect_to(srv.sock);
    Fd b = connect_to(srv.sock);
    std::string ba, bb;
    REQUIRE(send_all(a.fd, get("/a")));
    REQUIRE(read_response(a.fd, ba));
    REQUIRE(send_all(b.fd, get("/b")));
    REQUIRE(read_response(b.fd, bb));
    {
        Fd c = connect_to(srv.sock);
        auto r = read_response(c.fd);  // answered without a request: it was never served
        REQUIRE(r);
        CHECK(r->status == 503);
        CHECK(nlohmann::json::parse(r->body)["code"] == "SERVICE_UNAVAILABLE");
        CHECK(closed_by_server(c.fd));
    }
    a.reset();
    // Once the server has seen `a` go, there is room again.
    bool served = false;
    for (int i = 0; i < 50 && !served; ++i) {
        Fd c = connect_to(srv.sock);
        if (send_all(c.fd, get("/d"))) served = read_response(c.fd).has_value();
        if (!served) std::this_thread::sleep_for(20ms);
    }
    CHECK(served);
}

TEST_CASE("http server: socket file handling", "[http]") {
    SECTION("mode is applied and the file is removed on destruction") {
        for (unsigned mode : {0600u, 0660u, 0666u}) {
            fs::path path;
            {
                TestServer srv({}, mode);
                path = srv.sock;
                struct stat st {};
                REQUIRE(::lstat(path.c_str(), &st) == 0);
                CHECK(S_ISSOCK(st.st_mode));
                CHECK((st.st_mode & 07777) == mode);
                srv.stop();
                CHECK_FALSE(fs::exists(fs::symlink_status(path)));
            }
        }
    }
    SECTION("a stale socket file is replaced") {
        TempDir dir;
        fs::path path = dir.path() / "api.sock";
        {
            Fd s(::socket(AF_UNIX, SOCK_STREAM, 0));
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
            REQUIRE(::bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        }  // closed without unlink: a stale socket, like after a crash
        REQUIRE(fs::is_socket(path));
        boost::asio::io_context io;
        std::optional<HttpServer> server;
        REQUIRE_NOTHROW(server.emplace(io, path, 0600, ServerLimits{}, echo_handler));
        std::thread t([&] { io.run(); });
        auto r = roundtrip(path, get("/"));
        io.stop();
        t.join();
        REQUIRE(r);
        CHECK(r->status == 200);

        // A live server's socket is not stolen.
        boost::asio::io_context io2;
        CHECK_THROWS_AS(HttpServer(io2, path, 0600, ServerLimits{}, echo_handler), std::system_error);
        CHECK(fs::is_socket(path));
    }
    SECTION("a regular file or a directory at the path is refused and kept") {
        TempDir dir;
        fs::path file = dir.path() / "file.sock";
        std::ofstream(file) << "precious";
        boost::asio::io_context io;
        CHECK_THROWS_AS(HttpServer(io, file, 0600, ServerLimits{}, echo_handler), std::system_error);
        CHECK(fs::is_regular_file(file));
        fs::path d = dir.path() / "dir.sock";
        fs::create_directory(d);
        CHECK_THROWS_AS(HttpServer(io, d, 0600, ServerLimits{}, echo_handler), std::system_error);
        CHECK(fs::is_directory(d));
    }
}

namespace {

// A child process that has become `uid` (after entering `dir` as root, so only that directory
// needs to be searchable) and runs `work`. What `work` returns is read with result(); the
// child keeps its connections open until release(), so the parent can act meanwhile.
class ChildAs {
public:
    // `hold`: the server's io_context, kept busy in a task of ours while we fork: a child forked
    // while that thread is inside malloc would inherit the allocator's lock held (under ASan
    // that deadlocks the child at its first allocation).
    ChildAs(uid_t uid, const fs::path& dir, const std::function<std::string()>& work,
            boost::asio::io_context* hold = nullptr) {
        int result_pipe[2];
        int release_pipe[2];
        REQUIRE(::pipe2(result_pipe, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(release_pipe, O_CLOEXEC) == 0);
        // The task owns its promise and future (taken here, before it runs): it may still be
        // waking from `forked` after this constructor has returned, so it must not touch our locals.
        std::promise<void> held, forked;
        std::future<void> is_held = held.get_future();
        if (hold) {
            boost::asio::post(*hold, [held = std::move(held), go_on = forked.get_future()]() mutable {
                held.set_value();
                go_on.wait();
            });
            is_held.wait();
        }
        pid_ = ::fork();
        if (pid_ != 0 && hold) forked.set_value();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            // Only our pipe ends: the server's sockets must not stay open in here.
            for (int fd = 3; fd < 4096; ++fd)
                if (fd != result_pipe[1] && fd != release_pipe[0]) ::close(fd);
            std::string out;
            if (::chdir(dir.c_str()) != 0 || ::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0) {
                out = "cannot become uid " + std::to_string(uid);
            } else {
                try {
                    out = work();
                } catch (...) {
                    out = "exception in child";
                }
            }
            for (std::size_t off = 0; off < out.size();) {
                const ssize_t n = ::write(result_pipe[1], out.data() + off, out.size() - off);
                if (n <= 0 && errno != EINTR) break;
                if (n > 0) off += static_cast<std::size_t>(n);
            }
            ::close(result_pipe[1]);
            char c;
            while (::read(release_pipe[0], &c, 1) > 0) {
            }
            ::_exit(0);
        }
        ::close(result_pipe[1]);
        ::close(release_pipe[0]);
        result_fd_.fd = result_pipe[0];
        release_fd_.fd = release_pipe[1];
    }
    ~ChildAs() { release(); }
    ChildAs(const ChildAs&) = delete;
    ChildAs& operator=(const ChildAs&) = delete;

    std::string result() {
        std::string out;
        char buf[4096];
        ssize_t n;
        while ((n = ::read(result_fd_.fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0) out.append(buf, static_cast<std::size_t>(n));
        return out;
    }
    void release() {
        if (pid_ <= 0) return;
        release_fd_.reset();
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    Fd result_fd_;
    Fd release_fd_;
};

// In a child: opens `n` connections to ./api.sock, sends one GET on each and leaves it
// open; returns the statuses ("0" when there was no answer), space-separated.
std::string open_and_request(int n) {
    static std::vector<Fd> held;  // kept open until the child exits
    std::string statuses;
    for (int i = 0; i < n; ++i) {
        Fd c = connect_to("api.sock");
        send_all(c.fd, get("/held"));
        auto r = read_response(c.fd);
        statuses += (statuses.empty() ? "" : " ") + std::to_string(r ? r->status : 0);
        held.push_back(std::move(c));
    }
    return statuses;
}

std::string raw_exchange(const fs::path& sock, const std::string& raw, std::string* after = nullptr) {
    Fd c = connect_to(sock);
    send_all(c.fd, raw);
    std::string buf;
    auto r = read_response(c.fd, buf);
    if (!r) return "no answer";
    std::string out = std::to_string(r->status) + " " + nlohmann::json::parse(r->body).value("code", "");
    if (after) *after = closed_by_server(c.fd) ? "closed" : "open";
    return out;
}

}  // namespace

TEST_CASE("http server: request framing that could smuggle a second request is refused (RFC 9112 §6)", "[http]") {
    std::atomic<int> served{0};
    TestServer srv({}, 0600, {}, [&served](const Request& r) {
        ++served;
        return echo_handler(r);
    });
    const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    auto post_with = [&](const std::string& headers, const std::string& body) {
        return "POST /upload HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n" + body;
    };
    const std::string chunked_body = "5\r\nhello\r\n0\r\n\r\n";
    struct Case {
        const char* what;
        std::string raw;
        const char* expect;
    };
    const std::vector<Case> cases = {
        // Beast reads these as "no body" and would serve the bytes after them as a request.
        {"chunked not final", post_with("Transfer-Encoding: chunked, identity\r\n", chunked_body + smuggled),
         "400 BAD_REQUEST"},
        {"chunked twice", post_with("Transfer-Encoding: chunked, chunked\r\n", chunked_body + smuggled),
         "400 BAD_REQUEST"},
        {"no chunked at all", post_with("Transfer-Encoding: gzip\r\n", smuggled), "400 BAD_REQUEST"},
        // Beast lets a Content-Length that follows a non-chunked coding decide the length.
        {"identity then Content-Length", post_with("Transfer-Encoding: identity\r\nContent-Length: 5\r\n", "hello"),
         "400 BAD_REQUEST"},
        // Beast refuses these itself.
        {"Content-Length then chunked", post_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", chunked_body),
         "400 BAD_REQUEST"},
        {"chunked then Content-Length", post_with("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", chunked_body),
         "400 BAD_REQUEST"},
        {"chunked, then identity in a second field",
         post_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", chunked_body), "400 BAD_REQUEST"},
        {"HTTP/1.0 with a transfer coding",
         "POST /upload HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body, "400 BAD_REQUEST"},
        // A coding we do not implement, correctly framed: 501 (RFC 9112 §6.1).
        {"gzip, chunked", post_with("Transfer-Encoding: gzip, chunked\r\n", chunked_body), "501 NOT_IMPLEMENTED"},
        {"identity in a first field, chunked in a second",
         post_with("Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", chunked_body),
         "501 NOT_IMPLEMENTED"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        std::string after;
        CHECK(raw_exchange(srv.sock, c.raw, &after) == c.expect);
        CHECK(after == "closed");  // nothing after the refused header is read as a request
    }
    CHECK(served == 0);

    // Plain chunked (any case, with spaces) still works.
    Fd c = connect_to(srv.sock);
    REQUIRE(send_all(c.fd, post_with("Transfer-Encoding:  Chunked \r\n", chunked_body)));
    auto r = read_response(c.fd);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(nlohmann::json::parse(r->body)["body_len"] == 5);
}

TEST_CASE("http server: a uid the filter does not know gets one short 403 and holds no slot", "[http]") {
    std::atomic<bool> known{false};
    std::atomic<int> served{0};
    ServerLimits limits;
    limits.max_connections = 2;
    TestServer srv(limits, 0600, [&known](uid_t) { return known.load(); }, [&served](const Request& r) {
        ++served;
        return echo_handler(r);
    });

    // With or without a request sent first: one 403 with the error object, then the close.
    for (bool send_first : {true, false}) {
        INFO("request sent first: " << send_first);
        Fd c = connect_to(srv.sock);
        if (send_first) REQUIRE(send_all(c.fd, get("/v1/account")));
        std::string buf;
        auto r = read_response(c.fd, buf);
        REQUIRE(r);
        CHECK(r->status == 403);
        CHECK(r->headers["connection"] == "close");
        CHECK(!r->headers["x-correlation-id"].empty());
        auto j = nlohmann::json::parse(r->body);
        CHECK(j["code"] == "FORBIDDEN");
        CHECK(j["message"] == "uid " + std::to_string(::getuid()) + " is not a portal user");
        CHECK(buf.empty());
        CHECK(closed_by_server(c.fd));
    }
    // Refused peers that stay connected do not take the two slots.
    std::vector<Fd> refused;
    for (int i = 0; i < 10; ++i) refused.push_back(connect_to(srv.sock));
    for (auto& c : refused) {
        auto r = read_response(c.fd);
        REQUIRE(r);
        CHECK(r->status == 403);
    }
    CHECK(served == 0);
    known = true;
    std::vector<Fd> served_conns;
    for (int i = 0; i < 2; ++i) {
        served_conns.push_back(connect_to(srv.sock));
        REQUIRE(send_all(served_conns.back().fd, get("/ok")));
        auto r = read_response(served_conns.back().fd);
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    CHECK(served == 2);
}

TEST_CASE("http server: connections per uid are capped and root keeps a reserve", "[http]") {
    REQUIRE(::geteuid() == 0);  // the peers are children that become other uids
    ServerLimits limits;
    limits.max_connections = 6;
    limits.root_reserved_connections = 2;
    limits.max_connections_per_uid = 2;
    TestServer srv(limits, 0666);
    fs::permissions(srv.dir.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);

    // Each uid gets two connections; a third is answered 429 with Retry-After.
    ChildAs nobody(65534, srv.dir.path(), [] { return open_and_request(3); }, &srv.io);
    CHECK(nobody.result() == "200 200 429");
    ChildAs other(4242, srv.dir.path(), [] {
        std::string statuses = open_and_request(3);
        Fd c = connect_to("api.sock");
        auto r = read_response(c.fd);
        return statuses + (r && r->headers.count("retry-after") ? " retry-after" : " no retry-after");
    }, &srv.io);
    CHECK(other.result() == "200 200 429 retry-after");
    // 4 of the 6 are taken: the last 2 are root's. A third uid finds the non-root part full.
    ChildAs third(4243, srv.dir.path(), [] { return open_and_request(1); }, &srv.io);
    CHECK(third.result() == "503");
    std::vector<Fd> root_conns;
    std::string root_statuses;
    for (int i = 0; i < 3; ++i) {
        root_conns.push_back(connect_to(srv.sock));
        REQUIRE(send_all(root_conns.back().fd, get("/root")));
        auto r = read_response(root_conns.back().fd);
        root_statuses += (root_statuses.empty() ? "" : " ") + std::to_string(r ? r->status : 0);
    }
    CHECK(root_statuses == "200 200 503");  // root is not capped per uid, only by the total
}

}  // namespace http_server_test
