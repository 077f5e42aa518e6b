// The API socket is 0666: any local uid can connect. These tests flood it from other uids
// (children that drop to that uid, as the fixture's requests do) and check that only root and
// portal users are served, that one uid cannot hold more than its share, and that root's
// requests all succeed meanwhile (issue 8 §7 "API socket exhaustion by any local uid").
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;
using namespace std::chrono_literals;

namespace {

// ---- raw client, usable in a child (no Catch assertions) ----------------------------------

int connect_api(bool non_blocking = false) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, "api.sock", sizeof addr.sun_path - 1);  // the child is in the runtime dir
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    if (!non_blocking) {
        timeval tv{20, 0};  // a broken daemon fails the test instead of hanging it
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return fd;
}

bool send_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

struct RawResponse {
    int status = 0;  // 0: no answer
    std::map<std::string, std::string> headers;
    std::string body;
    bool closed_after = false;  // the server closed once the response was read
};

// Reads one response (Content-Length framed); with `check_close`, then whether EOF follows.
RawResponse read_raw(int fd, bool check_close) {
    RawResponse r;
    std::string buf;
    char tmp[4096];
    auto fill = [&] {
        for (;;) {
            const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            buf.append(tmp, static_cast<std::size_t>(n));
            return true;
        }
    };
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
        if (!fill()) return r;
    std::istringstream head(buf.substr(0, end));
    std::string line;
    std::getline(head, line);
    if (line.rfind("HTTP/1.1 ", 0) != 0 || line.size() < 12) return r;
    r.status = std::stoi(line.substr(9, 3));
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    buf.erase(0, end + 4);
    const std::size_t len = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (buf.size() < len)
        if (!fill()) return r;
    r.body = buf.substr(0, len);
    if (check_close) {
        char c;
        ssize_t n;
        do n = ::recv(fd, &c, 1, 0);
        while (n < 0 && errno == EINTR);
        r.closed_after = n == 0 || (n < 0 && errno == ECONNRESET);
    }
    return r;
}

std::string get_request(const std::string& path) {
    return "GET " + path + " HTTP/1.1\r\nHost: portal-keyd\r\n\r\n";
}

// ---- a child process as another uid ----------------------------------------------------------

// Runs `work(report, stop_fd)` in a child that entered the daemon's runtime directory as root
// and then became `uid`. `report` sends one line to the parent (next_line() reads it);
// `stop_fd` reaches EOF when the parent calls stop(). After `work` the child keeps whatever
// it opened until stop(), so the parent can act while it holds its connections.
class ChildAs {
public:
    using Report = std::function<void(const std::string&)>;

    ChildAs(uid_t uid, const std::filesystem::path& dir, const std::function<void(const Report&, int)>& work) {
        int up[2];
        int down[2];
        REQUIRE(::pipe2(up, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(down, O_CLOEXEC) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            for (int fd = 3; fd < 4096; ++fd)
                if (fd != up[1] && fd != down[0]) ::close(fd);
            const Report report = [fd = up[1]](const std::string& line) { send_all_pipe(fd, line + "\n"); };
            if (::chdir(dir.c_str()) != 0 || ::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0 ||
                ::getuid() != uid) {
                report("cannot become uid " + std::to_string(uid));
            } else {
                try {
                    work(report, down[0]);
                } catch (...) {
                    report("exception in child");
                }
            }
            char c;
            while (::read(down[0], &c, 1) > 0) {
            }
            ::_exit(0);
        }
        ::close(up[1]);
        ::close(down[0]);
        up_ = up[0];
        down_ = down[1];
    }
    ~ChildAs() {
        stop();
        if (up_ >= 0) ::close(up_);
    }
    ChildAs(const ChildAs&) = delete;
    ChildAs& operator=(const ChildAs&) = delete;

    std::string next_line() {
        std::string line;
        char c;
        for (;;) {
            const ssize_t n = ::read(up_, &c, 1);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || c == '\n') return line;
            line += c;
        }
    }
    void stop() {
        if (down_ >= 0) ::close(down_);
        down_ = -1;
    }
    void wait() {
        stop();
        if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

private:
    static void send_all_pipe(int fd, const std::string& s) {
        std::size_t off = 0;
        while (off < s.size()) {
            const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            off += static_cast<std::size_t>(n);
        }
    }
    pid_t pid_ = -1;
    int up_ = -1;
    int down_ = -1;
};

// A reconnect loop: keeps `width` connections open without sending anything, and whenever
// the daemon answers or closes one, counts the status ("none" for a close without answer)
// and opens a new one. Reports "ready" once `width` are open, and the counts when stopped.
void flood(const ChildAs::Report& report, int stop_fd, std::size_t width) {
    std::vector<int> open;
    std::map<std::string, long> seen;
    bool ready = false;
    for (;;) {
        while (open.size() < width) {
            const int fd = connect_api(/*non_blocking=*/true);
            if (fd < 0) break;  // backlog full (EAGAIN): poll, then try again
            open.push_back(fd);
        }
        if (!ready && open.size() >= width) {
            report("ready");
            ready = true;
        }
        std::vector<pollfd> pfds;
        pfds.push_back({stop_fd, POLLIN, 0});
        for (int fd : open) pfds.push_back({fd, POLLIN, 0});
        if (::poll(pfds.data(), pfds.size(), 50) < 0 && errno != EINTR) break;
        if (pfds[0].revents != 0) break;
        std::vector<int> still_open;
        for (std::size_t i = 1; i < pfds.size(); ++i) {
            const int fd = pfds[i].fd;
            if (pfds[i].revents == 0) {
                still_open.push_back(fd);
                continue;
            }
            char buf[512];
            const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n >= 12 && std::string_view(buf, 9) == "HTTP/1.1 ") ++seen[std::string(buf + 9, 3)];
            else if (n < 0 && errno == EAGAIN) {
                still_open.push_back(fd);
                continue;
            } else ++seen["none"];
            ::close(fd);
        }
        open = std::move(still_open);
    }
    for (int fd : open) ::close(fd);
    std::string counts;
    for (const auto& [k, v] : seen) counts += k + "=" + std::to_string(v) + " ";
    report(counts);
}

std::map<std::string, long> parse_counts(const std::string& line) {
    std::map<std::string, long> out;
    std::istringstream in(line);
    std::string item;
    while (in >> item) {
        const auto eq = item.find('=');
        if (eq != std::string::npos) out[item.substr(0, eq)] = std::stol(item.substr(eq + 1));
    }
    return out;
}

}  // namespace

TEST_CASE("api socket: a uid that is not a portal user gets one short 403 at connect", "[api][socket]") {
    Daemon d("sock403");
    seed_account(d);
    for (uid_t uid : {kNobody, kUnknownUid}) {
        INFO("uid " << uid);
        // Without sending a byte: the answer comes at accept, not after the request timeout.
        ChildAs silent(uid, d.runtime_dir(), [](const ChildAs::Report& report, int) {
            const int fd = connect_api();
            RawResponse r = read_raw(fd, true);
            report(std::to_string(r.status) + " " + r.headers["connection"] + " " +
                   (r.closed_after ? "closed" : "open") + " " + r.body);
            ::close(fd);
        });
        const std::string got = silent.next_line();
        CHECK(got.rfind("403 close closed ", 0) == 0);
        const auto body = nlohmann::json::parse(got.substr(got.find('{')), nullptr, false);
        REQUIRE(body.is_object());
        CHECK(body.value("code", "") == "FORBIDDEN");
        CHECK(body.value("message", "") == "uid " + std::to_string(uid) + " is not a portal user");
        CHECK(got.size() < 200);  // short: nothing about the API
    }
    // Through curl, any path and method: the same 403 (no 404 or 405 that would tell paths apart).
    for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
             {"DELETE", "/v1/account"}, {"GET", "/v1/no-such-thing"}, {"PATCH", "/v1/profile"}, {"GET", "/v2/x"}}) {
        auto r = d.send_raw(method, path, "", kNobody);
        INFO(method << " " << path << ": " << r.describe());
        CHECK(r.status == 403);
        CHECK(r.json.value("code", "") == "FORBIDDEN");
    }
}

TEST_CASE("api socket: one uid holds at most max_connections_per_uid (default 16) connections", "[api][socket]") {
    Daemon d("sockcap");
    auto seed = seed_account(d);
    auto other = add_member(d, seed.account_id, "other@example.com", "manager");

    ChildAs owner(seed.owner.uid, d.runtime_dir(), [](const ChildAs::Report& report, int) {
        std::string statuses;
        for (int i = 0; i < 17; ++i) {
            const int fd = connect_api();  // kept open (keep-alive) until the child ends
            send_all(fd, get_request("/v1/profile"));
            RawResponse r = read_raw(fd, false);
            statuses += (statuses.empty() ? "" : " ") + std::to_string(r.status);
            if (r.status == 429)
                statuses += std::string(" ") + r.headers["retry-after"] + " " +
                            nlohmann::json::parse(r.body, nullptr, false).value("code", "");
        }
        report(statuses);
    });
    std::string expected;
    for (int i = 0; i < 16; ++i) expected += "200 ";
    CHECK(owner.next_line() == expected + "429 1 TOO_MANY_REQUESTS");
    // Meanwhile root and another member are served.
    CHECK(d.get("/v1/account").status == 200);
    CHECK(d.get("/v1/profile", other.uid).status == 200);
    // Once the owner's connections are gone, the owner is served again.
    owner.wait();
    long status = 0;
    for (int i = 0; i < 100 && status != 200; ++i) {
        status = d.get("/v1/profile", seed.owner.uid).status;
        if (status != 200) std::this_thread::sleep_for(20ms);
    }
    CHECK(status == 200);
}

TEST_CASE("api socket: floods by an unknown uid and by a member do not lock root out", "[api][socket]") {
    Daemon d("sockflood");
    auto seed = seed_account(d);
    auto other = add_member(d, seed.account_id, "other@example.com", "manager");

    // More connections than the daemon's total limit (256), from a uid it does not know, and
    // a member's connections beyond its own limit.
    ChildAs nobody(kNobody, d.runtime_dir(), [](const ChildAs::Report& r, int stop) { flood(r, stop, 300); });
    ChildAs member(seed.owner.uid, d.runtime_dir(), [](const ChildAs::Report& r, int stop) { flood(r, stop, 40); });
    REQUIRE(nobody.next_line() == "ready");
    REQUIRE(member.next_line() == "ready");

    int root_ok = 0;
    for (int i = 0; i < 26; ++i) {
        auto r = d.get("/v1/account");
        INFO(r.describe());
        if (r.status == 200) ++root_ok;
    }
    CHECK(root_ok == 26);
    auto other_r = d.get("/v1/profile", other.uid);
    INFO(other_r.describe());
    CHECK(other_r.status == 200);

    nobody.stop();
    member.stop();
    auto nobody_seen = parse_counts(nobody.next_line());
    auto member_seen = parse_counts(member.next_line());
    auto seen = [](const std::map<std::string, long>& m, const std::string& k) {
        auto it = m.find(k);
        return it == m.end() ? 0L : it->second;
    };
    INFO("nobody saw 403=" << seen(nobody_seen, "403") << " none=" << seen(nobody_seen, "none"));
    INFO("member saw 429=" << seen(member_seen, "429") << " none=" << seen(member_seen, "none"));
    // Every connection of the unknown uid was answered 403, none was held and dropped.
    CHECK(seen(nobody_seen, "403") > 0);
    CHECK(nobody_seen.size() == 1);
    // The member's connections beyond its 16 were answered 429.
    CHECK(seen(member_seen, "429") > 0);
    CHECK(member_seen.count("403") == 0);
    CHECK(member_seen.count("503") == 0);
}
