// Revocation: who loses access between two states, and SessionTerminator against a private
// dbus-daemon with a fake logind, and with signals when logind is not there.
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "keyd/revoke/allowed_record.h"
#include "keyd/revoke/allowed_record_file.h"
#include "keyd/revoke/revocation.h"
#include "keyd/revoke/session_terminator.h"
#include "tests/unit/support/prerequisite.h"
#include "tests/unit/support/temp_dir.h"

namespace revoke_test {

namespace fs = std::filesystem;
using namespace portal;
using namespace std::chrono_literals;

// ---- losing_access -------------------------------------------------------------------------

namespace {

ipc::LoginMember member(const std::string& name, std::uint32_t uid, Role role = Role::manager,
                        MemberStatus status = MemberStatus::active) {
    ipc::LoginMember m;
    m.unix_name = name;
    m.uid = uid;
    m.user_id = "usr_" + name;
    m.role = role;
    m.status = status;
    return m;
}

std::vector<std::uint32_t> uids(const std::vector<revoke::Revocation>& rs) {
    std::vector<std::uint32_t> out;
    for (const auto& r : rs) out.push_back(r.uid);
    return out;
}

}  // namespace

TEST_CASE("revocation: removed, deactivated and role-lost members lose access") {
    ipc::LoginState before;
    before.members = {member("alice", 200001, Role::owner), member("bob", 200002), member("carol", 200003),
                      member("dave", 200004), member("erin", 200005, Role::manager, MemberStatus::invited)};
    ipc::LoginState after = before;
    after.members.erase(after.members.begin());                    // alice removed
    after.members[0].status = MemberStatus::deactivated;           // bob
    after.members[1].role = Role::support;                         // carol
    after.members[3].status = MemberStatus::active;                // erin accepted: gains access
    auto r = revoke::losing_access(before, after);
    CHECK(uids(r) == std::vector<std::uint32_t>{200001, 200002, 200003});
    REQUIRE(r.size() == 3);
    CHECK(r[0].reason == "not_portal_user");
    CHECK(r[1].reason == "deactivated");
    CHECK(r[2].reason == "role_not_allowed");
    CHECK(r[1].unix_name == "bob");
}

TEST_CASE("revocation: support staff lose access when their window ends between two states") {
    const auto now = static_cast<std::int64_t>(::time(nullptr));
    ipc::LoginState before;
    before.generated_at = now - 10;  // served while the grant still ran
    before.login_roles = {Role::owner, Role::manager, Role::support};
    before.members = {member("sam", 200001, Role::support), member("sid", 200002, Role::support),
                      member("sue", 200003, Role::support)};
    before.members[0].access_until = now - 1;     // ended since: the authority deactivates sam
    before.members[1].access_until = now - 1;     // ended since: nothing else changed for sid
    before.members[2].access_until = now + 3600;  // sue's runs on
    ipc::LoginState after = before;
    after.generated_at = now;
    after.members[0].status = MemberStatus::deactivated;
    auto r = revoke::losing_access(before, after);
    CHECK(uids(r) == std::vector<std::uint32_t>{200001, 200002});
    REQUIRE(r.size() == 2);
    CHECK(r[0].reason == "deactivated");
    CHECK(r[1].reason == "access_expired");
}

TEST_CASE("revocation: who was not allowed before, 2FA enrolment and collisions revoke nothing") {
    ipc::LoginState before;
    before.members = {member("alice", 200001), member("bob", 200002, Role::manager, MemberStatus::deactivated),
                      member("carol", 200003)};
    before.members[2].published = false;  // collided already
    ipc::LoginState after = before;
    after.members.erase(after.members.begin() + 1);  // bob was deactivated anyway
    after.enforce_2fa = true;                        // alice must enrol
    after.members[1].published = true;
    CHECK(revoke::losing_access(before, after).empty());

    // A member whose name now collides with a local account is not ours to act on.
    ipc::LoginState later = before;
    later.members[0].published = false;
    CHECK(revoke::losing_access(before, later).empty());
}

TEST_CASE("revocation: fewer login roles, and a re-created user with the same name") {
    ipc::LoginState before;
    before.members = {member("alice", 200001, Role::owner), member("bob", 200002)};
    ipc::LoginState after = before;
    after.login_roles = {Role::owner};
    CHECK(uids(revoke::losing_access(before, after)) == std::vector<std::uint32_t>{200002});

    after = before;
    after.members[1].uid = 200009;  // removed and re-added: a new identity
    after.members[1].user_id = "usr_bob2";
    CHECK(uids(revoke::losing_access(before, after)) == std::vector<std::uint32_t>{200002});
}

// ---- SessionTerminator ---------------------------------------------------------------------

namespace {

using TempDir = portal::test::TempDir;

// Sets an environment variable for a scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        ::setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> old_;
};

// A private system bus: dbus-daemon --nofork with an allow-all policy.
class PrivateBus {
public:
    PrivateBus() {
        const fs::path cfg = dir_.path() / "bus.conf";
        std::ofstream(cfg) << R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=)" << (dir_.path() / "bus").string()
                           << R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
)";
        int out[2];
        if (::pipe(out) != 0) throw std::runtime_error("pipe");
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(out[1], 1);
            ::close(out[0]);
            ::close(out[1]);
            const std::string arg = "--config-file=" + cfg.string();
            ::execlp("dbus-daemon", "dbus-daemon", arg.c_str(), "--nofork", "--print-address", nullptr);
            ::_exit(127);
        }
        ::close(out[1]);
        // The address line means it listens.
        char c;
        while (::read(out[0], &c, 1) == 1 && c != '\n') address_ += c;
        ::close(out[0]);
        if (address_.empty()) throw std::runtime_error("dbus-daemon did not start");
    }
    ~PrivateBus() {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }
    const std::string& address() const { return address_; }

private:
    TempDir dir_;
    pid_t pid_ = -1;
    std::string address_;
};

// org.freedesktop.login1 on its own connection and thread: records TerminateUser(u).
class FakeLogind {
public:
    explicit FakeLogind(const std::string& address) {
        sd_bus* b = nullptr;
        REQUIRE(sd_bus_new(&b) >= 0);
        bus_ = b;
        REQUIRE(sd_bus_set_address(bus_, address.c_str()) >= 0);
        REQUIRE(sd_bus_set_bus_client(bus_, 1) >= 0);
        REQUIRE(sd_bus_start(bus_) >= 0);
        REQUIRE(sd_bus_add_object_vtable(bus_, nullptr, "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
                                         kVtable, this) >= 0);
        REQUIRE(sd_bus_request_name(bus_, "org.freedesktop.login1", 0) >= 0);
        thread_ = std::thread([this] {
            while (!stop_) {
                int r = sd_bus_process(bus_, nullptr);
                if (r < 0) break;
                if (r > 0) continue;
                sd_bus_wait(bus_, 50'000);
            }
        });
    }
    ~FakeLogind() {
        stop_ = true;
        thread_.join();
        sd_bus_flush_close_unref(bus_);
    }
    std::vector<std::uint32_t> calls() {
        std::lock_guard lock(mu_);
        return calls_;
    }

private:
    static int terminate_user(sd_bus_message* m, void* userdata, sd_bus_error*) {
        auto* self = static_cast<FakeLogind*>(userdata);
        std::uint32_t uid = 0;
        int r = sd_bus_message_read(m, "u", &uid);
        if (r < 0) return r;
        {
            std::lock_guard lock(self->mu_);
            self->calls_.push_back(uid);
        }
        return sd_bus_reply_method_return(m, nullptr);
    }
    static constexpr sd_bus_vtable kVtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("TerminateUser", "u", nullptr, terminate_user, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
    };

    sd_bus* bus_ = nullptr;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::vector<std::uint32_t> calls_;
};

// Runs `io` until `done()` or the deadline.
template <class F>
bool run_until(boost::asio::io_context& io, F done, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    io.restart();
    for (;;) {
        if (done()) return true;  // done() may have side effects (waitpid): call it once per turn
        if (std::chrono::steady_clock::now() >= end) return false;
        io.run_for(20ms);
        io.restart();
    }
}

// A child running as `uid` (after telling the parent it did setuid), sleeping. With
// ignore_term it shrugs off SIGTERM.
pid_t child_as(uid_t uid, bool ignore_term) {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        // Catch2's handlers are inherited: restore the default (or ignore) so SIGTERM kills.
        ::signal(SIGTERM, ignore_term ? SIG_IGN : SIG_DFL);
        if (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(10);
        char ok = 'k';
        if (::write(p[1], &ok, 1) != 1) ::_exit(11);
        ::close(p[1]);
        for (;;) ::pause();
    }
    ::close(p[1]);
    char c = 0;
    REQUIRE(::read(p[0], &c, 1) == 1);
    ::close(p[0]);
    return pid;
}

// The signal that ended `pid` (0 if it did not end by a signal within the limit).
int wait_signal(pid_t pid, boost::asio::io_context& io, std::chrono::milliseconds limit) {
    int status = 0;
    bool done = run_until(io, [&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, limit);
    if (!done) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return 0;
    }
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

bool have_dbus_daemon() { return std::system("command -v dbus-daemon >/dev/null 2>&1") == 0; }

}  // namespace

TEST_CASE("session terminator: asks logind on the system bus") {
    if (!portal::test::prerequisite(have_dbus_daemon(), "dbus-daemon not installed")) return;
    PrivateBus bus;
    ScopedEnv env("DBUS_SYSTEM_BUS_ADDRESS", bus.address());
    FakeLogind logind(bus.address());

    boost::asio::io_context io;
    revoke::SessionTerminator t(io, {});
    std::vector<std::pair<std::uint32_t, std::string>> seen;
    t.set_observer([&](std::uint32_t uid, const std::string& how) { seen.emplace_back(uid, how); });
    t.terminate_user(200042);
    t.terminate_user(200043);  // a second call on the same connection
    REQUIRE(run_until(io, [&] { return seen.size() == 2; }, 5000ms));
    CHECK(logind.calls() == std::vector<std::uint32_t>{200042, 200043});
    CHECK(seen[0] == std::make_pair(std::uint32_t{200042}, std::string("logind")));
    CHECK(seen[1].second == "logind");
}

TEST_CASE("session terminator: signals the user's processes when logind is not on the bus") {
    if (!portal::test::prerequisite(have_dbus_daemon(), "dbus-daemon not installed")) return;
    if (!portal::test::prerequisite(::geteuid() == 0, "needs root (setuid children)")) return;
    PrivateBus bus;
    ScopedEnv env("DBUS_SYSTEM_BUS_ADDRESS", bus.address());

    boost::asio::io_context io;
    revoke::SessionTerminator t(io, {200000, 299999, 300ms, "/proc"});
    std::vector<std::string> how;
    t.set_observer([&](std::uint32_t, const std::string& h) { how.push_back(h); });
    const uid_t uid = 299990;
    pid_t polite = child_as(uid, false);
    pid_t stubborn = child_as(uid, true);
    pid_t bystander = child_as(299989, false);
    CHECK(revoke::processes_of_uid("/proc", uid).size() == 2);

    t.terminate_user(uid);
    CHECK(wait_signal(polite, io, 5000ms) == SIGTERM);
    CHECK(wait_signal(stubborn, io, 5000ms) == SIGKILL);  // after the grace period
    CHECK(how == std::vector<std::string>{"signals"});
    CHECK(::kill(bystander, 0) == 0);  // other uids untouched
    ::kill(bystander, SIGKILL);
    ::waitpid(bystander, nullptr, 0);
}

TEST_CASE("session terminator: signals when there is no system bus at all") {
    if (!portal::test::prerequisite(::geteuid() == 0, "needs root (setuid children)")) return;
    TempDir dir;
    ScopedEnv env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=" + (dir.path() / "no-bus").string());
    boost::asio::io_context io;
    revoke::SessionTerminator t(io, {200000, 299999, 300ms, "/proc"});
    pid_t child = child_as(299990, false);
    t.terminate_user(299990);
    CHECK(wait_signal(child, io, 5000ms) == SIGTERM);
}

TEST_CASE("session terminator: never touches uids below 1000 or outside the range") {
    TempDir dir;
    ScopedEnv env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=" + (dir.path() / "no-bus").string());
    boost::asio::io_context io;
    revoke::SessionTerminator t(io, {500, 299999, 300ms, "/proc"});
    std::vector<std::string> how;
    t.set_observer([&](std::uint32_t, const std::string& h) { how.push_back(h); });
    t.terminate_user(0);
    t.terminate_user(999);
    t.terminate_user(300000);
    CHECK(how == std::vector<std::string>{"refused", "refused", "refused"});
}

TEST_CASE("session terminator: an exception while handling logind's reply does not unwind through sd-bus") {
    if (!have_dbus_daemon()) {
        if (::geteuid() == 0 || std::getenv("PORTAL_TESTS_STRICT")) FAIL("dbus-daemon not installed");
        WARN("dbus-daemon not installed");
        return;
    }
    PrivateBus bus;
    ScopedEnv env("DBUS_SYSTEM_BUS_ADDRESS", bus.address());
    FakeLogind logind(bus.address());

    boost::asio::io_context io;
    revoke::SessionTerminator t(io, {200000, 299999, 300ms, "/proc"});
    std::vector<std::pair<std::uint32_t, std::string>> seen;
    bool thrown = false;
    // The observer runs inside sd-bus's reply callback: its exception must stop there.
    t.set_observer([&](std::uint32_t uid, const std::string& how) {
        seen.emplace_back(uid, how);
        if (!thrown) {
            thrown = true;
            throw std::runtime_error("observer failed");
        }
    });
    t.terminate_user(299942);
    // Caught at the boundary, and the user's processes are still ended (with signals).
    REQUIRE(run_until(io, [&] { return seen.size() == 2; }, 5000ms));
    CHECK(seen[0] == std::make_pair(std::uint32_t{299942}, std::string("logind")));
    CHECK(seen[1] == std::make_pair(std::uint32_t{299942}, std::string("signals")));
    // The connection still works.
    t.terminate_user(299943);
    REQUIRE(run_until(io, [&] { return seen.size() == 3; }, 5000ms));
    CHECK(seen[2] == std::make_pair(std::uint32_t{299943}, std::string("logind")));
    CHECK(logind.calls() == std::vector<std::uint32_t>{299942, 299943});
}

TEST_CASE("allowed record: the snapshot is the JSON document it is, and reads back", "[revoke]") {
    std::vector<revoke::AllowedMember> members{{"usr_a", "alice", 200001}, {"usr_\"b\\", "bob", 200002}};
    const revoke::AllowedSnapshot snapshot{members, "jnl_abc"};
    const std::string text = revoke::allowed_snapshot_to_json(snapshot);
    const nlohmann::json doc{{"version", 2},
                             {"journal", "jnl_abc"},
                             {"members",
                              {{{"user_id", "usr_a"}, {"unix_name", "alice"}, {"uid", 200001}},
                               {{"user_id", "usr_\"b\\"}, {"unix_name", "bob"}, {"uid", 200002}}}}};
    CHECK(text == doc.dump());
    std::string error;
    const auto back = revoke::allowed_snapshot_from_json(text, error);
    INFO(error);
    REQUIRE(back);
    CHECK(*back == snapshot);
    CHECK(revoke::allowed_snapshot_to_json({{}, "jnl_x"}) == R"({"journal":"jnl_x","members":[],"version":2})");

    // Version 1 (no journal; written in the state's order): read, sorted by name.
    const auto v1 = revoke::allowed_snapshot_from_json(
        R"({"version":1,"members":[{"user_id":"u2","unix_name":"zed","uid":2},{"user_id":"u1","unix_name":"amy","uid":1}]})",
        error);
    REQUIRE(v1);
    CHECK(v1->journal.empty());
    CHECK(v1->members == std::vector<revoke::AllowedMember>{{"u1", "amy", 1}, {"u2", "zed", 2}});

    // Refusals name the field.
    const std::pair<const char*, const char*> refused[] = {
        {R"({"version":2,"members":[]})", "journal"},
        {R"({"version":1,"journal":"jnl_a","members":[]})", "journal: unknown field"},
        {R"({"version":2,"journal":"JNL a","members":[]})", "journal"},
        {R"({"version":3,"journal":"jnl_a","members":[]})", "version"},
        {R"({"version":2,"journal":"jnl_a","members":[{"user_id":"u","unix_name":"b","uid":1},{"user_id":"v","unix_name":"a","uid":2}]})",
         "members[1].unix_name: out of order"},
        {R"({"version":2,"journal":"jnl_a","members":[{"user_id":"u","unix_name":"a","uid":1},{"user_id":"v","unix_name":"a","uid":2}]})",
         "members[1].unix_name: repeated"},
        {R"({"version":2,"journal":"jnl_a","members":[{"user_id":"u","unix_name":"a","uid":-1}]})", "members[0].uid"},
    };
    for (const auto& [input, field] : refused) {
        INFO(input);
        CHECK_FALSE(revoke::allowed_snapshot_from_json(input, error));
        CHECK(error.find(field) != std::string::npos);
    }
}

TEST_CASE("allowed record: the journal applies in order, skips another snapshot's and a torn last line", "[revoke]") {
    const std::vector<revoke::AllowedMember> base{{"u1", "amy", 1}, {"u3", "cat", 3}};
    const revoke::AllowedChange add_bob{"bob", revoke::AllowedMember{"u2", "bob", 2}};
    const revoke::AllowedChange drop_amy{"amy", std::nullopt};
    const revoke::AllowedChange cat_again{"cat", revoke::AllowedMember{"u9", "cat", 9}};
    const std::string journal = revoke::allowed_journal_header("jnl_a") + revoke::allowed_change_to_json_line(add_bob) +
                                revoke::allowed_change_to_json_line(drop_amy) +
                                revoke::allowed_change_to_json_line(cat_again);
    CHECK(revoke::allowed_change_to_json_line(drop_amy) == "{\"deny\":\"amy\"}\n");
    std::string error;
    std::size_t applied = 0;
    auto members = base;
    REQUIRE(revoke::apply_allowed_journal(journal, "jnl_a", members, error, &applied));
    CHECK(applied == 3);
    CHECK(members == std::vector<revoke::AllowedMember>{{"u2", "bob", 2}, {"u9", "cat", 9}});

    // Another snapshot's journal (a compaction stopped before replacing it): nothing applies.
    members = base;
    REQUIRE(revoke::apply_allowed_journal(journal, "jnl_b", members, error, &applied));
    CHECK(applied == 0);
    CHECK(members == base);

    // A last line cut short by a crash is skipped; what came before applies.
    members = base;
    const std::string torn = journal.substr(0, journal.size() - 5);
    REQUIRE(revoke::apply_allowed_journal(torn, "jnl_a", members, error, &applied));
    CHECK(applied == 2);

    // A complete line that is not a change: refused, naming it; nothing applied.
    members = base;
    CHECK_FALSE(revoke::apply_allowed_journal(journal + "{\"deny\":\"Not Valid\"}\n", "jnl_a", members, error));
    CHECK(error == "line 5.deny: not a valid user name");
    CHECK(members == base);
    CHECK_FALSE(revoke::apply_allowed_journal(journal + "{\"allow\":{\"user_id\":\"u\"}}\n", "jnl_a", members, error));
    CHECK(error.find("line 5.allow") == 0);
    CHECK_FALSE(revoke::apply_allowed_journal(journal + "{\"deny\":\"a\",\"allow\":1}\n", "jnl_a", members, error));
    CHECK(error == "line 5: expected one of allow or deny");
}

TEST_CASE("allowed record file: a change is one journal line, and compaction folds the journal into a new snapshot", "[revoke]") {
    test::TempDir dir;
    revoke::AllowedRecordFile file(dir.path() / "allowed.json");
    std::string error;
    CHECK_FALSE(file.read(error));
    CHECK(error.empty());  // no record yet
    CHECK_FALSE(file.apply({{"amy", std::nullopt}}, error));  // nothing written by us yet

    std::vector<revoke::AllowedMember> members;
    for (int i = 0; i < 40; ++i) members.push_back({"u" + std::to_string(i), "m" + std::to_string(1000 + i), 200000u + i});
    REQUIRE(file.replace(members, error));
    struct stat st {};
    REQUIRE(::stat(file.journal_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat(file.path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const auto snapshot_inode = st.st_ino;

    // 1,050 changes, one or two at a time: appended, then one compaction past 1,024 lines.
    std::vector<revoke::AllowedMember> expected = members;
    std::size_t compactions_seen = 0;
    for (int i = 0; i < 700; ++i) {
        const auto& m = members[static_cast<std::size_t>(i) % members.size()];
        std::vector<revoke::AllowedChange> changes{{m.unix_name, std::nullopt}, {m.unix_name, m}};
        if (i % 2) changes.pop_back();
        for (const auto& c : changes) revoke::apply_allowed_change(expected, c);
        REQUIRE(file.apply(changes, error));
        if (i == 10) {
            REQUIRE(::stat(file.path().c_str(), &st) == 0);
            CHECK(st.st_ino == snapshot_inode);  // only the journal grew
            CHECK(file.journal_lines() == 17);
        }
        CHECK(file.members() == expected);
        // Read back now and then, and right after the compaction (a read parses every line).
        if (i % 50 == 0 || i == 699 || file.compactions() != compactions_seen) {
            compactions_seen = file.compactions();
            const auto back = file.read(error);
            INFO(error);
            REQUIRE(back);
            REQUIRE(*back == expected);
        }
    }
    CHECK(file.compactions() == 1);
    CHECK(file.journal_lines() < 1024);

    // Left over by a compaction that stopped between the snapshot and the new journal:
    // another id, skipped.
    REQUIRE(file.replace(members, error));
    {
        std::ofstream out(file.journal_path(), std::ios::trunc);
        out << revoke::allowed_journal_header("jnl_other") << revoke::allowed_change_to_json_line({"m1000", std::nullopt});
    }
    auto back = file.read(error);
    INFO(error);
    REQUIRE(back);
    CHECK(*back == members);
    // A journal writable by others is refused as the snapshot would be.
    ::chmod(file.journal_path().c_str(), 0622);
    CHECK_FALSE(file.read(error));
    CHECK(error.find("writable by group or others") != std::string::npos);
}

TEST_CASE("allowed record file: a restart that finds the same members keeps the files and appends to their journal", "[revoke]") {
    test::TempDir dir;
    const auto path = dir.path() / "allowed.json";
    std::string error;
    std::vector<revoke::AllowedMember> members;
    for (int i = 0; i < 5; ++i) members.push_back({"u" + std::to_string(i), "m" + std::to_string(1000 + i), 200000u + i});
    std::vector<revoke::AllowedMember> expected = members;
    {
        revoke::AllowedRecordFile file(path);
        REQUIRE(file.replace(members, error));
        REQUIRE(file.apply({{"m1001", std::nullopt}}, error));
        revoke::apply_allowed_change(expected, {"m1001", std::nullopt});
    }
    struct stat before {};
    REQUIRE(::stat(path.c_str(), &before) == 0);

    revoke::AllowedRecordFile restarted(path);
    CHECK_FALSE(restarted.adopt(expected));  // nothing read yet
    const auto read = restarted.read(error);
    INFO(error);
    REQUIRE(read);
    REQUIRE(*read == expected);
    CHECK_FALSE(restarted.adopt(members));  // not what the files hold
    CHECK_FALSE(restarted.held());
    REQUIRE(restarted.adopt(expected));
    CHECK(restarted.held());
    CHECK(restarted.journal_lines() == 1);
    REQUIRE(restarted.apply({{"m1002", std::nullopt}}, error));
    revoke::apply_allowed_change(expected, {"m1002", std::nullopt});
    struct stat after {};
    REQUIRE(::stat(path.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);  // the snapshot was not written again
    CHECK(revoke::AllowedRecordFile(path).read(error) == expected);

    // A journal whose last line was cut short: appending after it would spoil the next line.
    {
        std::ofstream out(restarted.journal_path(), std::ios::app);
        out << R"({"deny":"m10)";
    }
    revoke::AllowedRecordFile torn(path);
    REQUIRE(torn.read(error) == expected);
    CHECK_FALSE(torn.adopt(expected));
    REQUIRE(torn.replace(expected, error));
    CHECK(revoke::AllowedRecordFile(path).read(error) == expected);

    // The journal grew between the read and the adoption: written anew instead.
    revoke::AllowedRecordFile raced(path);
    REQUIRE(raced.read(error) == expected);
    {
        std::ofstream out(raced.journal_path(), std::ios::app);
        out << revoke::allowed_change_to_json_line({"m1000", std::nullopt});
    }
    CHECK_FALSE(raced.adopt(expected));
}

}  // namespace revoke_test
