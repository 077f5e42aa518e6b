#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/ipc/framing.h"
#include "shared/ipc/login_client.h"
#include "shared/ipc/trust.h"
#include "tests/pam/fake_login_server.h"
#include "tests/unit/support/prerequisite.h"
#include "tests/unit/support/temp_dir.h"

namespace login_client_test {

using namespace portal;
using namespace portal::ipc;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Reads one request (up to its NUL), as the daemon does before it answers: a fake that
// answered and closed before the client finished sending would make the client's send fail
// (EPIPE, "unavailable") instead of showing what the test is about.
void read_request(int fd) {
    char c = 1;
    while (c != '\0' && ::recv(fd, &c, 1, 0) == 1) {
    }
}

// Non-root test runs trust their own uid as the "root" owner (docs/LOGIN_PROTOCOL.md).
struct TempDir : portal::test::TempDir {
    TempDir() : portal::test::TempDir("login-client") { ::setenv(kTestAllowUidEnv, std::to_string(::getuid()).c_str(), 1); }
    std::string sock() const { return file("login.sock"); }
};

LoginState sample() {
    LoginState s;
    LoginMember alice;
    alice.unix_name = "alice";
    alice.role = Role::owner;
    alice.tfa_enabled = true;
    alice.keys = {{"ssh-ed25519 AAAA1 alice@a", "SHA256:a1"}, {"ssh-ed25519 AAAA2 alice@b", "SHA256:a2"}};
    LoginMember bob = alice;
    bob.unix_name = "bob";
    bob.tfa_enabled = false;
    bob.status = MemberStatus::deactivated;
    s.members = {alice, bob};
    return s;
}

LoginClient client_for(const TempDir& dir, std::chrono::milliseconds timeout = 2000ms) {
    return LoginClient(ClientOptions{dir.sock(), timeout});
}

// Waits for the stop signal (or the client going away) without ever answering.
void silent(int fd, int stop_fd) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    char buf[4096];
    while (::poll(fds, 2, -1) > 0 && !fds[1].revents) {
        if (::read(fd, buf, sizeof buf) <= 0) return;
    }
}

}  // namespace

TEST_CASE("login_client: typed calls against the server code", "[login][client]") {
    TempDir dir;
    test::StateHandler handler(sample());
    test::FakeLoginServer server(dir.sock(), handler);
    const LoginClient client = client_for(dir);

    auto keys = client.get_authorized_keys("alice");
    REQUIRE(keys.ok());
    CHECK(keys.value.portal_user);
    CHECK(keys.value.keys.size() == 2);
    keys = client.get_authorized_keys("alice", std::string_view("SHA256:a2"));
    REQUIRE(keys.ok());
    CHECK(keys.value.keys == std::vector<std::string>{"ssh-ed25519 AAAA2 alice@b"});

    auto d = client.check_account("bob", "192.0.2.7", "sshd");
    REQUIRE(d.ok());
    CHECK(d.value.portal_user);
    CHECK_FALSE(d.value.allow);
    CHECK(d.value.reason == "deactivated");

    auto v = client.verify_code("alice", "123456", "192.0.2.7", "sshd");
    REQUIRE(v.ok());
    CHECK(v.value.result == VerifyResult::ok);
    v = client.verify_code("alice", "000000", "", "");
    REQUIRE(v.ok());
    CHECK(v.value.result == VerifyResult::wrong_code);

    CHECK(client.session_event("alice", SessionEventKind::open, "192.0.2.7", "sshd", "ssh").ok());

    const auto reqs = handler.requests();
    REQUIRE(reqs.size() == 6);
    const auto& ca = std::get<CheckAccountRequest>(reqs[2]);
    CHECK(ca.rhost == "192.0.2.7");
    CHECK(ca.service == "sshd");
    CHECK(std::get<SessionEventRequest>(reqs[5]).tty == "ssh");
    CHECK(server.connections() == 6);  // one connection per call
}

TEST_CASE("login_client: no daemon is 'unavailable', quickly", "[login][client]") {
    TempDir dir;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = client_for(dir).check_account("alice", "", "");
    CHECK(r.status == CallStatus::unavailable);
    CHECK(r.error.find("No such file") != std::string::npos);

    // A stale socket file with nobody listening: refused at once.
    {
        UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, dir.sock().c_str());
        REQUIRE(::bind(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::chmod(dir.sock().c_str(), 0660) == 0);
    }
    r = client_for(dir).check_account("alice", "", "");
    CHECK(r.status == CallStatus::unavailable);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("login_client: a daemon that never answers costs at most the timeout", "[login][client]") {
    TempDir dir;
    test::FakeLoginServer server(dir.sock(), silent);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = client_for(dir, 300ms).get_authorized_keys("alice");
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(r.status == CallStatus::unavailable);
    CHECK(r.error.find("timeout") != std::string::npos);
    CHECK(took >= 300ms);
    CHECK(took < 3000ms);  // generous: CI machines are loaded
}

TEST_CASE("login_client: oversize, truncated and garbage replies are 'unavailable'", "[login][client]") {
    TempDir dir;
    SECTION("over 4 MiB") {
        // Generous deadlines on both sides: moving 4 MiB took over 5 s once on a loaded machine,
        // and what is tested is the size limit, not the time.
        test::FakeLoginServer server(dir.sock(), [](int fd, int) {
            (void)write_all(fd, std::string(kMaxReplyBytes + 1, ' '), Deadline::after(60s));
        });
        auto r = client_for(dir, 60000ms).check_account("alice", "", "");
        CHECK(r.status == CallStatus::unavailable);
        CHECK(r.error.find("too_large") != std::string::npos);
    }
    SECTION("closed mid-reply") {
        test::FakeLoginServer server(dir.sock(), [](int fd, int) {
            (void)write_all(fd, R"({"parameters":{"portal_us)", Deadline::after(1s));
        });
        auto r = client_for(dir).check_account("alice", "", "");
        CHECK(r.status == CallStatus::unavailable);
        CHECK(r.error.find("closed") != std::string::npos);
    }
    SECTION("not JSON") {
        test::FakeLoginServer server(dir.sock(), [](int fd, int) {
            (void)write_all(fd, std::string("hello\0", 6), Deadline::after(1s));
        });
        CHECK(client_for(dir).check_account("alice", "", "").status == CallStatus::unavailable);
    }
    SECTION("wrong types") {
        test::FakeLoginServer server(dir.sock(), [](int fd, int) {
            read_request(fd);
            (void)write_all(fd, encode_message({{"parameters", {{"portal_user", "yes"}}}}), Deadline::after(1s));
        });
        auto r = client_for(dir).check_account("alice", "", "");
        CHECK(r.status == CallStatus::unavailable);
        CHECK(r.error == "bad reply: parameters.portal_user: must be a boolean");
    }
    SECTION("an error reply is 'failed', with its message") {
        test::FakeLoginServer server(dir.sock(), [](int fd, int) {
            read_request(fd);
            (void)write_all(fd, encode_message(error_message(error::internal, "db locked")), Deadline::after(1s));
        });
        auto r = client_for(dir).check_account("alice", "", "");
        CHECK(r.status == CallStatus::failed);
        CHECK(r.error == "io.portal.Login.Internal: db locked");
    }
}

TEST_CASE("login_client: the server closes bad requests and keeps serving", "[login][client]") {
    TempDir dir;
    test::StateHandler handler(sample());
    test::FakeLoginServer server(dir.sock(), handler);
    const LoginClient client = client_for(dir);

    std::string too_big = encode_message({{"method", "io.portal.Login.CheckAccount"},
                                          {"parameters", {{"user", std::string(kMaxRequestBytes, 'a')}}}});
    nlohmann::json params;
    std::string error;
    CHECK(client.call(too_big, params, error) == CallStatus::failed);
    CHECK(error.find("io.portal.Login.BadRequest") == 0);

    std::string unknown = encode_message({{"method", "io.portal.Login.Nope"}});
    CHECK(client.call(unknown, params, error) == CallStatus::failed);
    CHECK(error.find("io.portal.Login.MethodNotFound") == 0);

    CHECK(client.check_account("alice", "", "").ok());
}

TEST_CASE("login_client: refuses an untrusted socket file", "[login][client]") {
    TempDir dir;
    test::StateHandler handler(sample());
    test::FakeLoginServer server(dir.sock(), handler);

    REQUIRE(::chmod(dir.sock().c_str(), 0662) == 0);
    auto r = client_for(dir).check_account("alice", "", "");
    CHECK(r.status == CallStatus::unavailable);
    CHECK(r.error.find("writable by others") != std::string::npos);
    REQUIRE(::chmod(dir.sock().c_str(), 0660) == 0);

    if (::geteuid() == 0) REQUIRE(::chown(dir.sock().c_str(), 65534, 65534) == 0);
    else ::unsetenv(kTestAllowUidEnv);
    r = client_for(dir).check_account("alice", "", "");
    CHECK(r.status == CallStatus::unavailable);
    CHECK(r.error.find("not owned by root") != std::string::npos);
    CHECK(server.connections() == 0);  // refused before connecting
}

TEST_CASE("login_client: refuses a server not running as root", "[login][client]") {
    if (!portal::test::prerequisite(::geteuid() == 0, "needs root to run a server under another uid")) return;
    TempDir dir;
    REQUIRE(::chmod(dir.path().c_str(), 0777) == 0);
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Child: an impostor listening as nobody.
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
        test::StateHandler handler(sample());
        test::FakeLoginServer server(dir.sock(), handler);
        (void)!::write(ready[1], "r", 1);
        ::pause();
        ::_exit(0);
    }
    char c;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
    ::close(ready[1]);
    REQUIRE(::chown(dir.sock().c_str(), 0, 0) == 0);  // the file looks right; the peer does not
    auto r = client_for(dir).check_account("alice", "", "");
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    CHECK(r.status == CallStatus::unavailable);
    CHECK(r.error == "server runs as uid 65534, not root");
}

TEST_CASE("trust: the test override names only the caller's own uid", "[login][client]") {
    CHECK(is_trusted_uid(0));
    const uid_t me = ::getuid();
    ::unsetenv(kTestAllowUidEnv);
    CHECK(is_trusted_uid(me) == (me == 0));
    CHECK_FALSE(is_trusted_uid(12345));
    ::setenv(kTestAllowUidEnv, "12345", 1);
    CHECK_FALSE(is_trusted_uid(12345));  // not our uid
    ::setenv(kTestAllowUidEnv, (std::to_string(me) + "x").c_str(), 1);
    CHECK(is_trusted_uid(me) == (me == 0));
    ::setenv(kTestAllowUidEnv, std::to_string(me).c_str(), 1);
    CHECK(is_trusted_uid(me));
}

}  // namespace login_client_test
