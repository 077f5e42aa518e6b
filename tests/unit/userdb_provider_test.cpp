#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "keyd/userdb/provider.h"
#include "keyd/userdb/records.h"
#include "keyd/userdb/user_database.h"
#include "shared/ipc/framing.h"
#include "shared/ipc/unique_fd.h"
#include "tests/unit/support/prerequisite.h"
#include "tests/unit/support/temp_dir.h"

namespace userdb_provider_test {

using namespace portal;
using namespace portal::userdb;
using nlohmann::json;
namespace fs = std::filesystem;
namespace asio = boost::asio;

namespace {

constexpr const char* kService = "io.portal.test";

using TempDir = portal::test::TempDir;

ipc::LoginMember member(std::string name, std::uint32_t uid, Role role, bool tfa = false,
                        MemberStatus status = MemberStatus::active) {
    ipc::LoginMember m;
    m.unix_name = std::move(name);
    m.uid = uid;
    m.role = role;
    m.status = status;
    m.tfa_enabled = tfa;
    m.published = true;
    m.keys = {{"ssh-ed25519 AAAAC3 " + m.unix_name, "SHA256:x"}};
    return m;
}

std::shared_ptr<const ipc::LoginState> sample_state() {
    auto s = std::make_shared<ipc::LoginState>();
    s->members = {member("alice", 200001, Role::owner, true), member("bob", 200002, Role::manager),
                  member("dave", 200004, Role::owner, true, MemberStatus::deactivated),
                  member("carol", 200003, Role::manager, false, MemberStatus::invited)};
    s->members[3].published = false;
    return s;
}

UserdbConfig test_config(const fs::path& dir) {
    UserdbConfig cfg;
    cfg.socket_directory = dir / "sock";  // created by the provider
    cfg.dropin_directory = dir / "dropin";
    cfg.service = kService;
    // Not the default "portal-2fa": the installed package creates that group locally.
    cfg.tfa_group = "portaltest-2fa";
    // "root" exists everywhere; the other one nowhere (skipped).
    cfg.role_groups = {{Role::owner, {"root", "portalnogroup9q"}}, {Role::manager, {}}};
    return cfg;
}

// The daemon's io_context on a thread of its own; the test talks to the socket.
struct Running {
    asio::io_context io;
    std::unique_ptr<Provider> provider;
    std::thread thread;

    explicit Running(const UserdbConfig& cfg, std::shared_ptr<const ipc::LoginState> state = sample_state()) {
        provider = std::make_unique<Provider>(io, cfg);
        provider->update(std::move(state));
        thread = std::thread([this] {
            auto guard = asio::make_work_guard(io);
            io.run();
        });
    }
    // Runs fn on the io thread (the provider is not thread-safe).
    void on_io(std::function<void()> fn) {
        // The task owns the promise: this thread may return (and free its locals) while
        // set_value is still waking it.
        std::promise<void> done;
        std::future<void> finished = done.get_future();
        asio::post(io, [&fn, done = std::move(done)]() mutable {
            fn();
            done.set_value();
        });
        finished.wait();
    }
    ~Running() {
        on_io([this] { provider.reset(); });
        io.stop();
        thread.join();
    }
};

ipc::UniqueFd connect_to(const fs::path& path) {
    ipc::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
}

struct Client {
    ipc::UniqueFd fd;
    ipc::MessageBuffer buffer{ipc::kMaxReplyBytes};
    explicit Client(const fs::path& path) : fd(connect_to(path)) {}

    // False when the provider closed the connection before taking it all.
    bool send_raw(std::string_view bytes) {
        return static_cast<bool>(ipc::write_all(fd.get(), bytes, ipc::Deadline::after(std::chrono::seconds(5))));
    }
    void send(const json& request) { REQUIRE(send_raw(ipc::encode_message(request))); }
    // One reply; status other than ok is returned as {"io": "<status>"}.
    json receive() {
        std::string out;
        auto r = ipc::read_message(fd.get(), buffer, out, ipc::Deadline::after(std::chrono::seconds(5)));
        if (!r) return json{{"io", std::string(ipc::to_string(r.status))}};
        return json::parse(out);
    }
    // All replies of one call (until one without "continues").
    std::vector<json> call(const json& request) {
        send(request);
        std::vector<json> out;
        for (;;) {
            json j = receive();
            out.push_back(j);
            if (!j.value("continues", false)) return out;
        }
    }
};

json request(const std::string& method, json params, bool more = false) {
    json r{{"method", "io.systemd.UserDatabase." + method}, {"parameters", std::move(params)}};
    if (more) r["more"] = true;
    return r;
}

}  // namespace

TEST_CASE("userdb provider: user and group look-ups", "[userdb]") {
    TempDir tmp;
    const auto cfg = test_config(tmp.path());
    Running p(cfg);
    CHECK(p.provider->socket_path() == cfg.socket_directory / kService);
    CHECK((fs::status(p.provider->socket_path()).permissions() & fs::perms::all) == fs::perms(0666));
    Client c(p.provider->socket_path());

    auto r = c.call(request("GetUserRecord", {{"userName", "alice"}, {"service", kService}}));
    REQUIRE(r.size() == 1);
    const json rec = r[0]["parameters"]["record"];
    CHECK(rec["userName"] == "alice");
    CHECK(rec["uid"] == 200001);
    CHECK(rec["gid"] == 200001);
    CHECK(rec["homeDirectory"] == "/home/alice");
    CHECK(rec["shell"] == "/bin/bash");
    CHECK(rec["disposition"] == "regular");
    CHECK(rec["service"] == kService);
    // The test runs as root or as the... either way uid 0 or not the record's uid:
    if (::getuid() == 0) {
        CHECK(rec["privileged"]["sshAuthorizedKeys"] == json{"ssh-ed25519 AAAAC3 alice"});
        CHECK(r[0]["parameters"]["incomplete"] == false);
    } else {
        CHECK_FALSE(rec.contains("privileged"));
        CHECK(r[0]["parameters"]["incomplete"] == true);
    }

    r = c.call(request("GetUserRecord", {{"uid", 200004}, {"service", kService}}));
    CHECK(r[0]["parameters"]["record"]["userName"] == "dave");
    CHECK(r[0]["parameters"]["record"]["locked"] == true);
    CHECK_FALSE(r[0]["parameters"]["record"].contains("privileged"));  // locked: no keys

    r = c.call(request("GetUserRecord", {{"uid", 200001}, {"userName", "alice"}, {"service", kService}}));
    CHECK(r[0]["parameters"]["record"]["userName"] == "alice");
    r = c.call(request("GetUserRecord", {{"uid", 200002}, {"userName", "alice"}, {"service", kService}}));
    CHECK(r[0]["error"] == "io.systemd.UserDatabase.ConflictingRecordFound");
    r = c.call(request("GetUserRecord", {{"userName", "carol"}, {"service", kService}}));  // not published
    CHECK(r[0]["error"] == "io.systemd.UserDatabase.NoRecordFound");
    r = c.call(request("GetUserRecord", {{"uid", 200001}, {"uidMin", 300000}, {"service", kService}}));
    CHECK(r[0]["error"] == "io.systemd.UserDatabase.NonMatchingRecordFound");

    r = c.call(request("GetGroupRecord", {{"groupName", "bob"}, {"service", kService}}));
    CHECK(r[0]["parameters"]["record"] == json{{"groupName", "bob"}, {"gid", 200002}, {"service", kService}});
    r = c.call(request("GetGroupRecord", {{"gid", 200004}, {"service", kService}}));
    CHECK(r[0]["parameters"]["record"]["groupName"] == "dave");
    // The 2FA group (a name no machine has, so it never exists locally; 59990 is free here): served by us.
    r = c.call(request("GetGroupRecord", {{"groupName", "portaltest-2fa"}, {"service", kService}}));
    CHECK(r[0]["parameters"]["record"] == json{{"groupName", "portaltest-2fa"}, {"gid", 59990}, {"service", kService}});
    r = c.call(request("GetGroupRecord", {{"groupName", "root"}, {"service", kService}}));  // local, not ours
    CHECK(r[0]["error"] == "io.systemd.UserDatabase.NoRecordFound");
}

TEST_CASE("userdb provider: enumerations stream with continues", "[userdb]") {
    TempDir tmp;
    Running p(test_config(tmp.path()));
    Client c(p.provider->socket_path());

    auto r = c.call(request("GetMemberships", {{"service", kService}}, true));
    REQUIRE(r.size() == 2);
    CHECK(r[0]["continues"] == true);
    CHECK_FALSE(r[1].contains("continues"));

    // Users and per-user groups are drop-ins too, which nss-systemd enumerates itself: listing
    // them here would show every member twice in `getent passwd`.
    r = c.call(request("GetUserRecord", {{"service", kService}}, true));
    REQUIRE(r.size() == 1);
    CHECK(r[0]["error"] == "io.systemd.UserDatabase.NoRecordFound");
    r = c.call(request("GetGroupRecord", {{"service", kService}}, true));
    REQUIRE(r.size() == 1);  // the 2FA group only: it has no drop-in
    CHECK(r[0]["parameters"]["record"]["groupName"] == "portaltest-2fa");
    r = c.call(request("GetGroupRecord", {{"service", kService}, {"gidMin", 60000}}, true));
    CHECK(r[0]["error"] == "io.systemd.UserDatabase.NoRecordFound");

    // An enumeration needs "more".
    r = c.call(request("GetGroupRecord", {{"service", kService}}));
    CHECK(r[0]["error"] == "org.varlink.service.ExpectedMore");
}

TEST_CASE("userdb provider: memberships", "[userdb]") {
    TempDir tmp;
    Running p(test_config(tmp.path()));
    Client c(p.provider->socket_path());
    auto pairs = [&](const json& params, bool more = true) {
        std::set<std::pair<std::string, std::string>> out;
        for (const auto& m : c.call(request("GetMemberships", params, more))) {
            if (m.contains("error")) {
                out.insert({"error", m["error"].get<std::string>()});
                continue;
            }
            out.insert({m["parameters"]["userName"].get<std::string>(), m["parameters"]["groupName"].get<std::string>()});
        }
        return out;
    };
    using Set = std::set<std::pair<std::string, std::string>>;
    // The owner: its role group that exists (not the missing one) and the 2FA group.
    CHECK(pairs({{"userName", "alice"}, {"service", kService}}) == Set{{"alice", "root"}, {"alice", "portaltest-2fa"}});
    // A manager without 2FA: nothing. A locked owner: nothing.
    CHECK(pairs({{"userName", "bob"}, {"service", kService}}) == Set{{"error", "io.systemd.UserDatabase.NoRecordFound"}});
    CHECK(pairs({{"userName", "dave"}, {"service", kService}}) == Set{{"error", "io.systemd.UserDatabase.NoRecordFound"}});
    CHECK(pairs({{"groupName", "portaltest-2fa"}, {"service", kService}}) == Set{{"alice", "portaltest-2fa"}});
    CHECK(pairs({{"service", kService}}) == Set{{"alice", "root"}, {"alice", "portaltest-2fa"}});
    CHECK(pairs({{"userName", "alice"}, {"groupName", "root"}, {"service", kService}}, false) == Set{{"alice", "root"}});
    CHECK(pairs({{"userName", "alice"}, {"service", kService}}, false) ==
          Set{{"error", "org.varlink.service.ExpectedMore"}});

    // update() replaces what is served.
    auto s = std::make_shared<ipc::LoginState>(*sample_state());
    s->members[1].tfa_enabled = true;
    p.on_io([&] { p.provider->update(s); });
    CHECK(pairs({{"userName", "bob"}, {"service", kService}}) == Set{{"bob", "portaltest-2fa"}});
}

TEST_CASE("userdb provider: errors and it keeps serving", "[userdb]") {
    TempDir tmp;
    Running p(test_config(tmp.path()));
    const auto path = p.provider->socket_path();
    Client c(path);

    auto r = c.call(request("GetUserRecord", {{"userName", "alice"}, {"service", "io.other"}}));
    CHECK(r[0]["error"] == "io.systemd.UserDatabase.BadService");
    r = c.call(request("GetUserRecord", {{"userName", "alice"}}));
    CHECK(r[0]["error"] == "io.systemd.UserDatabase.BadService");
    r = c.call(request("GetNothing", {{"service", kService}}));
    CHECK(r[0]["error"] == "org.varlink.service.MethodNotFound");
    r = c.call(json{{"method", "com.example.Foo"}});
    CHECK(r[0]["error"] == "org.varlink.service.MethodNotFound");
    r = c.call(request("GetUserRecord", {{"uid", "200001"}, {"service", kService}}));
    CHECK(r[0]["error"] == "org.varlink.service.InvalidParameter");
    CHECK(r[0]["parameters"]["parameter"] == "uid");
    r = c.call(request("GetUserRecord", {{"uid", -1}, {"service", kService}}));
    CHECK(r[0]["parameters"]["parameter"] == "uid");
    r = c.call(request("GetUserRecord", {{"colour", "red"}, {"service", kService}}));
    CHECK(r[0]["parameters"]["parameter"] == "colour");
    // oneway: no reply at all; the next call is answered normally.
    c.send(json{{"method", "io.systemd.UserDatabase.GetUserRecord"},
                {"oneway", true},
                {"parameters", {{"userName", "alice"}, {"service", kService}}}});
    r = c.call(json{{"method", "org.varlink.service.GetInfo"}});
    CHECK(r[0]["parameters"]["interfaces"].size() == 2);
    r = c.call(json{{"method", "org.varlink.service.GetInterfaceDescription"},
                    {"parameters", {{"interface", "io.systemd.UserDatabase"}}}});
    CHECK(r[0]["parameters"]["description"].get<std::string>().find("GetMemberships") != std::string::npos);

    SECTION("garbage gets an error, then the connection is closed") {
        for (std::string_view junk : {std::string_view("not json"), std::string_view("[1,2]"),
                                      std::string_view(R"({"parameters":{}})"), std::string_view(R"({"method":"x","more":1})")}) {
            Client g(path);
            REQUIRE(g.send_raw(std::string(junk) + '\0'));
            json e = g.receive();
            CHECK(e["error"] == "io.systemd.System");
            CHECK(e["parameters"]["errno"] == EBADMSG);
            CHECK(g.receive()["io"] == "closed");
        }
        Client u(path);
        u.send(json{{"method", "org.varlink.service.GetInfo"}, {"upgrade", true}});
        CHECK(u.receive()["parameters"]["errno"] == EOPNOTSUPP);
    }
    SECTION("a request over 64 KiB is refused") {
        Client big(path);
        big.send_raw(std::string(70 * 1024, 'x'));  // may fail part-way: the provider stops reading
        json e = big.receive();
        CHECK(e["parameters"]["errno"] == EMSGSIZE);
        CHECK(big.receive()["io"] == "closed");
    }
    SECTION("pipelined requests are answered in order") {
        Client q(path);
        REQUIRE(q.send_raw(ipc::encode_message(request("GetUserRecord", {{"userName", "alice"}, {"service", kService}})) +
                           ipc::encode_message(request("GetUserRecord", {{"userName", "bob"}, {"service", kService}}))));
        CHECK(q.receive()["parameters"]["record"]["userName"] == "alice");
        CHECK(q.receive()["parameters"]["record"]["userName"] == "bob");
    }
    SECTION("an idle connection is closed") {
        p.on_io([&] { p.provider->set_idle_timeout(std::chrono::milliseconds(100)); });
        Client idle(path);
        REQUIRE(idle.send_raw("{\"method\":"));  // an incomplete request
        CHECK(idle.receive()["io"] == "closed");
        p.on_io([&] { p.provider->set_idle_timeout(std::chrono::seconds(10)); });
        c = Client(path);  // the idle timeout closed that one too
    }
    // The first connection and new ones still work.
    r = c.call(request("GetUserRecord", {{"userName", "bob"}, {"service", kService}}));
    CHECK(r[0]["parameters"]["record"]["uid"] == 200002);
    Client after(path);
    r = after.call(request("GetUserRecord", {{"userName", "bob"}, {"service", kService}}));
    CHECK(r[0]["parameters"]["record"]["uid"] == 200002);
}

TEST_CASE("userdb provider: clients that hang up mid-reply do not hurt it", "[userdb]") {
    TempDir tmp;
    auto big = std::make_shared<ipc::LoginState>();
    for (std::uint32_t i = 0; i < 5000; ++i) {
        auto m = member("user" + std::to_string(i), 210000 + i, Role::owner, true);  // 2 memberships each
        m.keys = std::vector<ipc::LoginKey>(
            3, {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl some-comment",
                "SHA256:x"});
        big->members.push_back(std::move(m));
    }
    Running p(test_config(tmp.path()), big);
    const auto path = p.provider->socket_path();
    for (int round = 0; round < 20; ++round) {
        Client c(path);
        c.send(request("GetMemberships", {{"service", kService}}, true));
        if (round % 2) {  // read a bit, then go
            char buf[1000];
            CHECK(::read(c.fd.get(), buf, sizeof buf) > 0);
        }
        // Closing with unread data pending sends a reset (ECONNRESET/EPIPE at the provider).
    }
    // A full enumeration still works, and so does a look-up.
    Client c(path);
    const auto all = c.call(request("GetMemberships", {{"service", kService}}, true));
    CHECK(all.size() == 10000);
    CHECK(all.back()["parameters"].contains("groupName"));
    const auto one = c.call(request("GetUserRecord", {{"userName", "user42"}, {"service", kService}}));
    CHECK(one[0]["parameters"]["record"]["uid"] == 210042);
}

TEST_CASE("userdb provider: an update during an enumeration does not disturb it", "[userdb]") {
    TempDir tmp;
    auto big = std::make_shared<ipc::LoginState>();
    for (std::uint32_t i = 0; i < 3000; ++i)
        big->members.push_back(member("user" + std::to_string(i), 210000 + i, Role::manager, true));
    Running p(test_config(tmp.path()), big);
    Client c(p.provider->socket_path());
    c.send(request("GetMemberships", {{"service", kService}}, true));
    CHECK(c.receive().contains("continues"));
    p.on_io([&] { p.provider->update(sample_state()); });
    std::size_t n = 1;
    for (;;) {
        json j = c.receive();
        REQUIRE(j.contains("parameters"));
        ++n;
        if (!j.value("continues", false)) break;
    }
    CHECK(n == 3000);
    CHECK(c.call(request("GetMemberships", {{"service", kService}}, true)).size() == 2);
}

TEST_CASE("userdb provider: the privileged section only for root and the user itself", "[userdb]") {
    if (!portal::test::prerequisite(::getuid() == 0, "needs root (setuid in a child)")) return;
    TempDir tmp;
    fs::permissions(tmp.path(), fs::perms(0755));  // nobody must reach the socket
    const auto cfg = test_config(tmp.path());
    asio::io_context io;  // no threads here: the child is forked from a single-threaded process
    Provider provider(io, cfg);
    auto s = std::make_shared<ipc::LoginState>(*sample_state());
    s->members[1].uid = 65534;  // bob is "nobody" for this test
    provider.update(s);
    const std::string path = provider.socket_path();

    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Plain syscalls only in the child.
        if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(10);
        auto ask = [&](const char* req, std::size_t len, char* buf, std::size_t cap) -> ssize_t {
            int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
            if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
            if (::write(fd, req, len) != static_cast<ssize_t>(len)) return -1;
            ssize_t got = 0;
            while (got < static_cast<ssize_t>(cap) - 1) {
                ssize_t n = ::read(fd, buf + got, cap - 1 - static_cast<std::size_t>(got));
                if (n <= 0) break;
                got += n;
                if (std::memchr(buf, '\0', static_cast<std::size_t>(got))) break;
            }
            ::close(fd);
            return got;
        };
        static char buf[8192];
        static const char alice[] =
            R"({"method":"io.systemd.UserDatabase.GetUserRecord","parameters":{"userName":"alice","service":"io.portal.test"}})";
        static const char bob[] =
            R"({"method":"io.systemd.UserDatabase.GetUserRecord","parameters":{"userName":"bob","service":"io.portal.test"}})";
        if (ask(alice, sizeof alice, buf, sizeof buf) <= 0) ::_exit(11);
        if (std::strstr(buf, "sshAuthorizedKeys") || !std::strstr(buf, "\"incomplete\":true")) ::_exit(12);
        std::memset(buf, 0, sizeof buf);
        if (ask(bob, sizeof bob, buf, sizeof buf) <= 0) ::_exit(13);
        if (!std::strstr(buf, "sshAuthorizedKeys") || !std::strstr(buf, "\"incomplete\":false")) ::_exit(14);
        ::_exit(0);
    }
    int status = 0;
    for (int i = 0; i < 500; ++i) {
        io.run_for(std::chrono::milliseconds(10));
        if (::waitpid(pid, &status, WNOHANG) == pid) break;
        io.restart();
    }
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("userdb provider: socket lifecycle", "[userdb]") {
    TempDir tmp;
    const auto cfg = test_config(tmp.path());
    const auto path = cfg.socket_directory / kService;
    asio::io_context io;
    {
        Provider first(io, cfg);
        CHECK(fs::is_socket(path));
        CHECK_THROWS_AS(Provider(io, cfg), std::runtime_error);  // a live one holds it
    }
    CHECK_FALSE(fs::exists(path));  // removed on destruction
    {
        // A stale socket (nobody listening) is replaced.
        ipc::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    CHECK(fs::is_socket(path));
    { Provider again(io, cfg); }
    std::ofstream(path) << "x";
    CHECK_THROWS_AS(Provider(io, cfg), std::runtime_error);  // not a socket: not ours to remove
    CHECK(fs::is_regular_file(path));
    auto bad = cfg;
    bad.service = "../x";
    CHECK_THROWS_AS(Provider(io, bad), std::runtime_error);
}

TEST_CASE("userdb database: records of unchanged members reused from the previous build equal a fresh build",
          "[userdb]") {
    TempDir dir("userdb-reuse");
    const UserdbConfig cfg = test_config(dir.path());
    const auto no_group = [](std::string_view) { return false; };
    const auto no_gid = [](std::uint32_t) { return false; };
    auto state = std::make_shared<ipc::LoginState>(*sample_state());
    const auto same = [&](const Database& a, const Database& b) {
        REQUIRE(a.users().size() == b.users().size());
        for (std::size_t i = 0; i < a.users().size(); ++i) {
            CHECK(a.users()[i].name == b.users()[i].name);
            CHECK(a.users()[i].public_json == b.users()[i].public_json);
            CHECK(a.users()[i].privileged_json == b.users()[i].privileged_json);
        }
        REQUIRE(a.groups().size() == b.groups().size());
        for (std::size_t i = 0; i < a.groups().size(); ++i) CHECK(a.group_json(a.groups()[i]) == b.group_json(b.groups()[i]));
        REQUIRE(a.memberships().size() == b.memberships().size());
        for (std::size_t i = 0; i < a.memberships().size(); ++i)
            CHECK(Database::membership_json(a.memberships()[i]) == Database::membership_json(b.memberships()[i]));
        // The id indexes (kept from the previous build when no id moved) find the same.
        for (const auto& u : b.users()) {
            REQUIRE(a.user_by_uid(u.uid));
            CHECK(a.user_by_uid(u.uid)->name == u.name);
        }
        for (const auto& g : b.groups()) {
            REQUIRE(a.group_by_gid(g.gid));
            CHECK(a.group_by_gid(g.gid)->name == b.group_by_gid(g.gid)->name);
        }
    };
    auto previous = Database::build(*state, cfg, no_group, no_gid);
    // alice's keys and bob's role change (both named), dave leaves, and a new "dave" comes with
    // another uid (named too); enforce 2FA flips (memberships only).
    state->members[0].keys = {{"ssh-ed25519 AAAAnew alice-new", "SHA256:new"}};
    state->members[1].role = Role::owner;
    state->members.erase(state->members.begin() + 2);
    state->members.push_back(member("dave", 200099, Role::manager));
    state->enforce_2fa = true;
    const std::unordered_set<std::string> changed{"alice", "bob", "dave"};
    const auto reused = Database::build(*state, cfg, no_group, no_gid, previous.get(), &changed);
    same(*reused, *Database::build(*state, cfg, no_group, no_gid));
    REQUIRE(reused->user_by_name("alice"));
    CHECK(reused->user_by_name("alice")->privileged_json.str().find("AAAAnew") != std::string::npos);
    REQUIRE(reused->user_by_name("dave"));
    CHECK(reused->user_by_name("dave")->uid == 200099);
    // Even a change set that forgot a member cannot hand out another uid's records.
    state->members.back().uid = 200100;
    const std::unordered_set<std::string> none;
    const auto guarded = Database::build(*state, cfg, no_group, no_gid, reused.get(), &none);
    REQUIRE(guarded->user_by_name("dave"));
    CHECK(guarded->user_by_name("dave")->public_json.str().find("200100") != std::string::npos);
    // A change that moves no id (a role): the id indexes are the previous build's, and still right.
    state->members[1].role = Role::manager;
    const std::unordered_set<std::string> bob{"bob"};
    same(*Database::build(*state, cfg, no_group, no_gid, guarded.get(), &bob), *Database::build(*state, cfg, no_group, no_gid));
}

TEST_CASE("userdb records: the texts written directly are the JSON library's dumps", "[userdb]") {
    UserdbConfig cfg;
    cfg.home_base = "/srv/homes/";
    cfg.shell = "/bin/sh \"quoted\"";
    cfg.service = "io.portal.Test";
    std::vector<ipc::LoginMember> members;
    members.push_back(member("alice", 200001, Role::owner));
    members.back().keys = {{"ssh-ed25519 AAAA alice@laptop", "SHA256:a"},
                           {"ssh-ed25519 AAAB \"quoted\" back\\slash \x01 caf\xc3\xa9 bad\xff", "SHA256:b"}};
    members.push_back(member("bob", 200002, Role::manager));
    members.back().keys.clear();  // nothing privileged
    members.push_back(member("carol", 200003, Role::owner));
    members.back().status = MemberStatus::deactivated;  // locked: no keys anywhere
    for (const auto& m : members) {
        INFO(m.unix_name);
        const auto texts = user_record_texts(m, cfg);
        nlohmann::json record = user_record(m, cfg);
        CHECK(texts.public_text == dump(record));
        if (auto priv = privileged_section(m)) {
            record["privileged"] = std::move(*priv);
            CHECK(texts.privileged_text == dump(record));
        } else {
            CHECK(texts.privileged_text.empty());
        }
    }
}

}  // namespace userdb_provider_test
