// Local users are never locked out by pam_portal.so (issue 8 §2): root, names a member can
// never have and local uids outside the portal range are "not ours" before any IPC (zero
// connections to a hung daemon), errors are PAM_IGNORE until the user is known to be a
// member, and bad module arguments are ignored.
#include "tests/pam/support.h"

#include <dlfcn.h>
#include <poll.h>
#include <security/pam_modules.h>

#include "pam_module/local_identity.h"

using namespace portal;
using namespace portal::ipc;
using namespace portal::test;
using portal::login_path::Resolution;
using portal::login_path::UidRange;

namespace {

// The module's entry points called directly with the given arguments: the exact result.
class Module {
public:
    Module() : handle_(::dlopen(PAM_PORTAL_MODULE, RTLD_NOW | RTLD_LOCAL)) { REQUIRE(handle_); }
    ~Module() { ::dlclose(handle_); }
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;
    int call(const char* name, pam_handle_t* ph, const std::vector<std::string>& args) const {
        using Fn = int (*)(pam_handle_t*, int, int, const char**);
        auto fn = reinterpret_cast<Fn>(::dlsym(handle_, name));
        REQUIRE(fn);
        std::vector<const char*> argv;
        for (const auto& a : args) argv.push_back(a.c_str());
        return fn(ph, 0, static_cast<int>(argv.size()), argv.data());
    }

private:
    void* handle_;
};

std::vector<std::string> fixture_args() { return {"socket=" + kSocket, "state=" + kStateDir, "timeout=1000"}; }

// A daemon that accepts and never answers; counts the connections it accepted.
struct HungDaemon {
    FakeLoginServer server{kSocket, [](int fd, int stop_fd) {
                               pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
                               char buf[4096];
                               while (::poll(fds, 2, -1) > 0 && !fds[1].revents)
                                   if (::read(fd, buf, sizeof buf) <= 0) return;
                           }};
};

struct Phases {
    int account, auth, open, close;
};

Phases all_phases(const char* user, const std::vector<std::string>& args) {
    Module m;
    Transcript t;
    PamSession s("portal", user, t);
    s.set_item(PAM_RHOST, "192.0.2.7");
    Phases p{};
    p.auth = m.call("pam_sm_authenticate", s.handle(), args);
    p.account = m.call("pam_sm_acct_mgmt", s.handle(), args);
    p.open = m.call("pam_sm_open_session", s.handle(), args);
    p.close = m.call("pam_sm_close_session", s.handle(), args);
    CHECK(t.messages.empty());  // never a prompt or a message for them
    return p;
}

}  // namespace

TEST_CASE("local users: not ours before any IPC, even with the daemon hung", "[pam][local]") {
    PortalFixture fx;
    fx.stop_daemon();
    HungDaemon hung;
    // root, system accounts (reserved names a member never gets), names a member cannot have.
    for (const char* user : {"root", "daemon", "nobody", "sshd", "www-data", "Admin", "bad.name", "1000", "-x",
                             "a-name-far-too-long-for-any-portal-member"}) {
        INFO(user);
        const Phases p = all_phases(user, fixture_args());
        CHECK(p.account == PAM_IGNORE);
        CHECK(p.auth == PAM_IGNORE);
        CHECK(p.open == PAM_SUCCESS);
        CHECK(p.close == PAM_SUCCESS);
    }
    CHECK(hung.server.connections() == 0);

    // Through a stack as sshd and sudo use it: the rest of the stack decides.
    Conv c;
    CHECK(pamtest_run("portal-stack", "root", PAMTEST_ACCOUNT, c) == PAM_SUCCESS);
    CHECK(hung.server.connections() == 0);

    // The hung daemon is reachable: a name that may be a member does ask it (and, with no
    // answer, falls back to the state directory).
    Transcript t;
    Module m;
    PamSession s("portal", "bob", t);
    CHECK(m.call("pam_sm_acct_mgmt", s.handle(), fixture_args()) == PAM_SUCCESS);
    CHECK(hung.server.connections() == 1);
}

TEST_CASE("local users: a 'not ours' answer is kept for the transaction", "[pam][local]") {
    PortalFixture fx;
    Transcript t;
    // "localuser" is unknown to NSS here, so only the daemon can tell: one question, then the
    // session phases use the answer (through libpam: module data is the module's only).
    PamSession s("portal", "localuser", t);
    (void)pam_acct_mgmt(s.handle(), 0);  // "required" alone turns PAM_IGNORE into a refusal
    (void)pam_open_session(s.handle(), 0);
    (void)pam_close_session(s.handle(), 0);
    CHECK(fx.handler.requests().size() == 1);
    // Another user on the same handle is asked about afresh.
    REQUIRE(pam_set_item(s.handle(), PAM_USER, "carol") == PAM_SUCCESS);
    CHECK(pam_acct_mgmt(s.handle(), 0) == PAM_PERM_DENIED);
    CHECK(fx.handler.requests().size() == 2);
}

TEST_CASE("local users: no user name is PAM_IGNORE, never a refusal", "[pam][local]") {
    PortalFixture fx;
    Module m;
    Transcript t;  // no answers: pam_get_user's "login:" prompt fails
    PamSession s("portal", nullptr, t);
    CHECK(m.call("pam_sm_acct_mgmt", s.handle(), fixture_args()) == PAM_IGNORE);
    CHECK(m.call("pam_sm_authenticate", s.handle(), fixture_args()) == PAM_IGNORE);
    CHECK(m.call("pam_sm_open_session", s.handle(), fixture_args()) == PAM_IGNORE);
    CHECK(fx.handler.requests().empty());
}

TEST_CASE("local users: garbage module arguments are ignored, never a lock-out", "[pam][local]") {
    PortalFixture fx;
    fx.stop_daemon();
    HungDaemon hung;
    const std::vector<std::string> garbage = {
        "socket=",         "socket=relative.sock", "state=",        "state=../x",  "timeout=",     "timeout=-5",
        "timeout=abc",     "timeout=99999999999",  "uid_min=",      "uid_min=zz",  "uid_max=-1",   "uid_min=0",
        "uid_max=1e9",     "uid_min=300000",       "uid_max=100",   "%s%s%n%x",    "debug=yes",    "=",
        "",                std::string(4000, 'a'), "socket=" + kSocket};
    for (const char* user : {"root", "nobody", "daemon"}) {
        INFO(user);
        const Phases p = all_phases(user, garbage);
        CHECK(p.account == PAM_IGNORE);
        CHECK(p.auth == PAM_IGNORE);
        CHECK(p.open == PAM_SUCCESS);
    }
    CHECK(hung.server.connections() == 0);
}

TEST_CASE("local users: members are still decided with garbage next to good arguments", "[pam][local]") {
    PortalFixture fx;
    Module m;
    // uid_min > uid_max: both ignored (defaults); the good socket= still counts.
    const std::vector<std::string> args = {"bogus", "uid_min=300000", "uid_max=100", "timeout=x", "socket=" + kSocket,
                                           "state=" + kStateDir};
    Transcript t;
    PamSession bob("portal", "bob", t);
    CHECK(m.call("pam_sm_acct_mgmt", bob.handle(), args) == PAM_SUCCESS);
    PamSession carol("portal", "carol", t);
    CHECK(m.call("pam_sm_acct_mgmt", carol.handle(), args) == PAM_PERM_DENIED);
}

TEST_CASE("local identity: the 'not ours' rules", "[pam][local]") {
    using S = Resolution::Status;
    const UidRange range;  // 200000-299999, the daemon's default
    CHECK(range.min == 200000);
    CHECK(range.max == 299999);
    auto not_ours = [&](const char* name, Resolution r) {
        return portal::login_path::not_ours_without_ipc(name, r, range).has_value();
    };
    CHECK(not_ours("root", {S::not_found, 0}));
    CHECK(not_ours("root", {S::error, 0}));
    CHECK(not_ours("sshd", {S::not_found, 0}));
    CHECK(not_ours("portal-x", {S::not_found, 0}));
    CHECK(not_ours("Bob", {S::not_found, 0}));
    CHECK(not_ours("", {S::not_found, 0}));
    CHECK(not_ours("toor", {S::found, 0}));          // another name for uid 0
    CHECK(not_ours("jane", {S::found, 1000}));       // an ordinary local user
    CHECK(not_ours("jane", {S::found, 199999}));
    CHECK(not_ours("jane", {S::found, 300000}));
    CHECK(not_ours("jane", {S::found, 65534}));
    // May be ours: only the daemon (and then the uid check) can tell.
    CHECK_FALSE(not_ours("jane", {S::found, 200000}));
    CHECK_FALSE(not_ours("jane", {S::found, 299999}));
    CHECK_FALSE(not_ours("jane", {S::not_found, 0}));
    CHECK_FALSE(not_ours("jane", {S::error, 0}));
    // What getpwnam says on this machine.
    CHECK(portal::login_path::resolve_user("root").found());
    CHECK(portal::login_path::resolve_user("root").uid == 0);
    CHECK(portal::login_path::resolve_user("no-such-user-portal-test").status == S::not_found);
}
