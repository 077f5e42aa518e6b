// End to end: the login path has a thread of its own (issue 9). While the daemon's main thread
// is stuck in a store write (the database's write lock held from outside, so SQLite's busy
// handler sleeps), the login socket still answers the keys helper's and pam_portal.so's
// questions and the userdb provider still answers NSS, from the last snapshot. On the old
// single-threaded daemon every one of these waited for the write.
#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/raw_socket.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

namespace {

nlohmann::json reply_parameters(const Exchange& x) {
    const auto j = first_json(x);
    if (!j.is_object() || !j.contains("parameters") || !j["parameters"].is_object()) return nullptr;
    return j["parameters"];
}

// The system call a thread is blocked in (/proc/<pid>/task/<tid>/syscall), -1 if running or unknown.
long blocked_syscall(pid_t pid, pid_t tid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
    std::string first;
    if (!(in >> first) || first == "running") return -1;
    try {
        return std::stol(first);
    } catch (...) {
        return -1;
    }
}

// The write lock of the daemon's database, held by this process until release().
class WriteLock {
public:
    explicit WriteLock(const std::filesystem::path& db) {
        if (sqlite3_open_v2(db.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
            throw std::runtime_error("cannot open " + db.string());
        // The daemon may be writing right now (the last login it records after a session
        // opened): wait for it, as any writer would.
        sqlite3_busy_timeout(db_, 10000);
        if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("BEGIN IMMEDIATE: ") + sqlite3_errmsg(db_));
    }
    ~WriteLock() { release(); }
    WriteLock(const WriteLock&) = delete;
    WriteLock& operator=(const WriteLock&) = delete;
    void release() {
        if (!db_) return;
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        sqlite3_close(db_);
        db_ = nullptr;
    }

private:
    sqlite3* db_ = nullptr;
};

}  // namespace

TEST_CASE("login thread: keys, account checks and userdb answer while the main thread waits for a store write",
          "[e2e][login-thread]") {
    World w("login-thread");
    Member m = w.add_member("tara@example.com", "manager");
    REQUIRE(login_eventually(w, m).ok());

    WriteLock lock(w.dir() / "state" / "portal.db");
    std::atomic<bool> write_done{false};
    long write_status = 0;
    std::thread writer([&] {
        const auto r = w.api().call("PUT", "/v1/account", nlohmann::json{{"name", "Renamed while locked"}}, 0,
                                    w.account_id());
        write_status = r.status;
        write_done = true;
    });
    struct Join {
        std::thread& t;
        WriteLock& l;
        ~Join() {
            l.release();
            if (t.joinable()) t.join();
        }
    } join{writer, lock};

    // Proof that the main thread (tid = pid) is stuck: asleep in SQLite's busy handler
    // (clock_nanosleep, or nanosleep), not in epoll_wait.
    const pid_t pid = w.daemon_pid();
    bool stuck = false;
    for (int i = 0; i < 400 && !stuck && !write_done; ++i) {
        const long sc = blocked_syscall(pid, pid);
        stuck = sc == 230 || sc == 35;
        if (!stuck) std::this_thread::sleep_for(10ms);
    }
    INFO(w.diagnostics());
    REQUIRE(stuck);
    REQUIRE_FALSE(write_done);

    const auto keys = converse(w.login_socket(),
                               nul_framed({{"method", "io.portal.Login.GetAuthorizedKeys"}, {"parameters", {{"user", m.unix_name}}}}),
                               1, 3000ms);
    const auto account = converse(
        w.login_socket(),
        nul_framed({{"method", "io.portal.Login.CheckAccount"},
             {"parameters", {{"user", m.unix_name}, {"service", "sshd"}, {"rhost", "127.0.0.1"}}}}),
        1, 3000ms);
    const auto record = converse(w.userdb_socket(),
                                 nul_framed({{"method", "io.systemd.UserDatabase.GetUserRecord"},
                                      {"parameters", {{"userName", m.unix_name}, {"service", "io.portal.keyd"}}}}),
                                 1, 3000ms);
    const bool answered_while_stuck = !write_done;
    INFO("keys: " << keys.describe() << "\naccount: " << account.describe() << "\nrecord: " << record.describe());
    CHECK(answered_while_stuck);
    const auto k = reply_parameters(keys);
    REQUIRE(k.is_object());
    CHECK(k.value("portal_user", false));
    CHECK(k["keys"].size() == 1);
    const auto a = reply_parameters(account);
    REQUIRE(a.is_object());
    CHECK(a.value("allow", false));
    const auto r = reply_parameters(record);
    REQUIRE(r.is_object());
    CHECK(r["record"].value("userName", "") == m.unix_name);

    // Let the write through: it completes, and the main thread serves again.
    lock.release();
    writer.join();
    CHECK(write_status == 200);
    CHECK(w.api().get("/v1/account", 0).status == 200);
    CHECK(w.daemon_running());
}
