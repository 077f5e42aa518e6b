#include <catch2/catch.hpp>

#include <cerrno>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/ipc/framing.h"
#include "shared/ipc/unique_fd.h"

namespace login_framing_test {

using namespace portal::ipc;
using namespace std::chrono_literals;

namespace {

struct SocketPair {
    UniqueFd a, b;
    SocketPair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        a.reset(fds[0]);
        b.reset(fds[1]);
    }
};

std::string msg(std::string_view s) { return std::string(s) + '\0'; }

}  // namespace

TEST_CASE("framing: encode_message appends one NUL and round-trips", "[login][framing]") {
    const nlohmann::json j{{"method", "io.portal.Login.CheckAccount"}, {"parameters", {{"user", "alice"}}}};
    const std::string bytes = encode_message(j);
    REQUIRE(bytes.back() == '\0');
    REQUIRE(bytes.find('\0') == bytes.size() - 1);
    std::string error;
    auto back = parse_message(std::string_view(bytes).substr(0, bytes.size() - 1), error);
    REQUIRE(back);
    CHECK(*back == j);
}

TEST_CASE("framing: encode_message never throws on invalid UTF-8", "[login][framing]") {
    const nlohmann::json j{{"x", std::string("a\xff\xfe" "b")}};
    std::string bytes;
    REQUIRE_NOTHROW(bytes = encode_message(j));
    CHECK(bytes.back() == '\0');
}

TEST_CASE("framing: messages split across appends, several per append", "[login][framing]") {
    MessageBuffer buf(1024);
    std::string out;
    const std::string stream = msg(R"({"a":1})") + msg(R"({"b":2})") + msg(R"({"c":3})");
    // Feed one byte at a time: each message appears exactly when its NUL arrives.
    std::vector<std::string> got;
    for (char c : stream) {
        buf.append(std::string_view(&c, 1));
        while (buf.next(out) == MessageBuffer::Status::message) got.push_back(out);
    }
    REQUIRE(got == std::vector<std::string>{R"({"a":1})", R"({"b":2})", R"({"c":3})"});
    CHECK(buf.pending() == 0);

    buf.append(stream);
    REQUIRE(buf.next(out) == MessageBuffer::Status::message);
    CHECK(out == R"({"a":1})");
    REQUIRE(buf.next(out) == MessageBuffer::Status::message);
    REQUIRE(buf.next(out) == MessageBuffer::Status::message);
    CHECK(out == R"({"c":3})");
    CHECK(buf.next(out) == MessageBuffer::Status::need_more);
}

TEST_CASE("framing: partial message stays pending", "[login][framing]") {
    MessageBuffer buf(1024);
    std::string out;
    buf.append(R"({"a":)");
    CHECK(buf.next(out) == MessageBuffer::Status::need_more);
    CHECK(buf.pending() == 5);
    buf.append(msg("1}"));
    REQUIRE(buf.next(out) == MessageBuffer::Status::message);
    CHECK(out == R"({"a":1})");
}

TEST_CASE("framing: oversize messages are refused, terminated or not", "[login][framing]") {
    std::string out;
    SECTION("unterminated, over the limit") {
        MessageBuffer buf(16);
        buf.append(std::string(16, 'x'));
        CHECK(buf.next(out) == MessageBuffer::Status::need_more);  // exactly the limit: may still end
        buf.append("x");
        CHECK(buf.next(out) == MessageBuffer::Status::too_large);
    }
    SECTION("complete, over the limit") {
        MessageBuffer buf(16);
        buf.append(msg(std::string(17, 'x')));
        CHECK(buf.next(out) == MessageBuffer::Status::too_large);
    }
    SECTION("at the limit is fine") {
        MessageBuffer buf(16);
        buf.append(msg(std::string(16, 'x')));
        CHECK(buf.next(out) == MessageBuffer::Status::message);
    }
}

TEST_CASE("framing: garbage and non-objects are refused", "[login][framing]") {
    std::string error;
    CHECK_FALSE(parse_message("not json", error));
    CHECK(error == "message is not valid JSON");
    CHECK_FALSE(parse_message("", error));
    CHECK_FALSE(parse_message("[1,2]", error));
    CHECK(error == "message is not a JSON object");
    CHECK_FALSE(parse_message("\"str\"", error));
    CHECK_FALSE(parse_message("{\"a\":1} trailing", error));
    CHECK_FALSE(parse_message(std::string("{\"a\":\"\xff\"}"), error));  // invalid UTF-8
    CHECK(parse_message("{}", error));
}

TEST_CASE("framing: read_message over a socket, with leftovers kept", "[login][framing]") {
    SocketPair sp;
    const std::string two = msg(R"({"n":1})") + msg(R"({"n":2})");
    REQUIRE(write_all(sp.a.get(), two, Deadline::after(1s)));
    MessageBuffer buf(kMaxRequestBytes);
    std::string out;
    REQUIRE(read_message(sp.b.get(), buf, out, Deadline::after(1s)));
    CHECK(out == R"({"n":1})");
    REQUIRE(read_message(sp.b.get(), buf, out, Deadline::after(1s)));
    CHECK(out == R"({"n":2})");
}

TEST_CASE("framing: read_message times out, reports EOF and oversize", "[login][framing]") {
    std::string out;
    SECTION("timeout") {
        SocketPair sp;
        MessageBuffer buf(1024);
        const auto t0 = std::chrono::steady_clock::now();
        const IoResult r = read_message(sp.b.get(), buf, out, Deadline::after(100ms));
        CHECK(r.status == IoStatus::timeout);
        CHECK(std::chrono::steady_clock::now() - t0 >= 100ms);
        CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    }
    SECTION("EOF mid-message") {
        SocketPair sp;
        REQUIRE(write_all(sp.a.get(), R"({"trunc)", Deadline::after(1s)));
        sp.a.reset();
        MessageBuffer buf(1024);
        CHECK(read_message(sp.b.get(), buf, out, Deadline::after(1s)).status == IoStatus::closed);
        CHECK(buf.pending() == 7);
    }
    SECTION("oversize stream") {
        SocketPair sp;
        std::thread writer([fd = sp.a.get()] { (void)write_all(fd, std::string(5000, 'x'), Deadline::after(2s)); });
        MessageBuffer buf(1000);
        CHECK(read_message(sp.b.get(), buf, out, Deadline::after(2s)).status == IoStatus::too_large);
        sp.b.reset();
        writer.join();
    }
}

TEST_CASE("framing: write_all to a closed peer is EPIPE, not SIGPIPE", "[login][framing]") {
    SocketPair sp;
    sp.b.reset();
    const IoResult r = write_all(sp.a.get(), std::string(1 << 20, 'x'), Deadline::after(1s));
    CHECK(r.status == IoStatus::closed);
    CHECK(r.err == EPIPE);
}

TEST_CASE("framing: write_all larger than the socket buffer, reader drains slowly", "[login][framing]") {
    SocketPair sp;
    const std::string big(4 << 20, 'y');
    std::string received;
    std::thread reader([&] {
        char chunk[65536];
        for (;;) {
            const ssize_t n = ::read(sp.b.get(), chunk, sizeof chunk);
            if (n <= 0) break;
            received.append(chunk, static_cast<std::size_t>(n));
        }
    });
    CHECK(write_all(sp.a.get(), big, Deadline::after(10s)));
    sp.a.reset();
    reader.join();
    CHECK(received.size() == big.size());
}

TEST_CASE("framing: write_all gives up at the deadline when nobody reads", "[login][framing]") {
    SocketPair sp;
    const IoResult r = write_all(sp.a.get(), std::string(16 << 20, 'z'), Deadline::after(100ms));
    CHECK(r.status == IoStatus::timeout);
}

TEST_CASE("framing: write_all to a pipe falls back to write()", "[login][framing]") {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    UniqueFd r(p[0]), w(p[1]);
    REQUIRE(write_all(w.get(), "hello\n", Deadline::after(1s)));
    char buf[16] = {};
    REQUIRE(::read(r.get(), buf, sizeof buf) == 6);
    CHECK(std::string(buf) == "hello\n");
}

}  // namespace login_framing_test
