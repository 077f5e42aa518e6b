// e2e_tests: real portal-keyd, real sshd (PAM through pam_wrapper), real SSH clients. Needs
// root: the binary enters a private mount namespace of its own (unshare(CLONE_NEWNS), mount
// propagation private), where each test's World mounts tmpfs over /run/userdb,
// /run/systemd/userdb and /home; nothing it publishes is seen outside. Exits 77 (CTest's
// SKIP_RETURN_CODE) when it cannot run here. Under PORTAL_SANITIZE sshd preloads the ASan
// runtime (it loads the ASan-built pam_portal.so), and every World fails on any sanitizer
// report of the daemon, sshd/PAM or the keys helper.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "tests/e2e/support/world.h"

namespace portal::e2e {
// Failed assertions so far (a World that sees this grow keeps its temp dir and prints its logs).
int failed_assertions = 0;
}  // namespace portal::e2e

namespace {

constexpr int kSkip = 77;

struct FailureCounter : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    bool assertionEnded(const Catch::AssertionStats& stats) override {
        if (!stats.assertionResult.isOk()) ++portal::e2e::failed_assertions;
        return true;
    }
};

int skip(const std::string& why) {
    std::fprintf(stderr, "e2e_tests: SKIPPED: %s\n", why.c_str());
    return kSkip;
}

bool listing_only(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a.starts_with("--list") || a == "-l" || a == "-t" || a == "-h" || a == "--help" || a == "-?") return true;
    }
    return false;
}

bool nsswitch_has_systemd() {
    std::ifstream in("/etc/nsswitch.conf");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("passwd:") && line.find("systemd") != std::string::npos) return true;
    return false;
}

// Whether `nobody` (sshd's AuthorizedKeysCommandUser here) can run the keys helper and reach
// the tests' temp dir: a build tree under a 0700 home cannot be used.
bool nobody_can_reach(const std::string& helper, const std::string& dir) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const bool ok = ::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0 &&
                        ::access(helper.c_str(), X_OK) == 0 && ::access(dir.c_str(), X_OK) == 0;
        ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Why this machine cannot run the tests, or "" when it can.
std::string missing_prerequisite() {
#if defined(PORTAL_SANITIZE_BUILD) && !defined(E2E_ASAN_PRELOAD)
    return "not run under PORTAL_SANITIZE: sshd (not instrumented) cannot load an ASan-built pam_portal.so";
#endif
#ifdef E2E_ASAN_PRELOAD
    if (::access(E2E_ASAN_PRELOAD, R_OK) != 0)
        return "PORTAL_SANITIZE: " E2E_ASAN_PRELOAD " (the ASan runtime sshd must preload) is missing";
#endif
    if (::geteuid() != 0) return "needs root (real sshd, mount namespace, setuid clients)";
    for (const char* f : {"/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/env"})
        if (::access(f, X_OK) != 0) return std::string(f) + " is missing (openssh-server, openssh-client)";
    if (void* h = ::dlopen("libpam_wrapper.so", RTLD_LAZY | RTLD_LOCAL)) ::dlclose(h);
    else return "libpam_wrapper.so cannot be loaded (package libpam-wrapper)";
    if (void* h = ::dlopen("libnss_systemd.so.2", RTLD_LAZY | RTLD_LOCAL)) ::dlclose(h);
    else return "libnss_systemd.so.2 is missing (package libnss-systemd)";
    if (!nsswitch_has_systemd()) return "/etc/nsswitch.conf: passwd does not use systemd";
    return "";
}

// E2E_TMP (tests/CMakeLists.txt: under /run/portal-keyd-tests as root) searchable by nobody
// whatever the umask, and the keys helper copied there: the build tree may sit under a 0700
// home, where sshd's AuthorizedKeysCommandUser could not run it. "" or what went wrong (a
// failure, not a skip: as root these tests must run).
std::string prepare_test_dir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path tmp = E2E_TMP;
    fs::create_directories(portal::e2e::keys_helper().parent_path(), ec);
    if (ec) return "cannot create " + tmp.string() + ": " + ec.message();
    // E2E_TMP, its bin/, and the per-tree and shared parents under /run/portal-keyd-tests.
    for (const fs::path& d : {tmp, tmp / "bin", tmp.parent_path(), tmp.parent_path().parent_path()})
        if (d.string().starts_with("/run/portal-keyd-tests") || d.string().starts_with(E2E_TMP)) ::chmod(d.c_str(), 0755);
    fs::copy_file(AUTHORIZED_KEYS_BIN, portal::e2e::keys_helper(), fs::copy_options::overwrite_existing, ec);
    if (ec) return std::string("cannot copy ") + AUTHORIZED_KEYS_BIN + ": " + ec.message();
    ::chmod(portal::e2e::keys_helper().c_str(), 0755);
    if (!nobody_can_reach(portal::e2e::keys_helper(), E2E_TMP))
        return "user nobody cannot reach " + portal::e2e::keys_helper().string() + " or " + tmp.string() +
               " (a parent directory is not searchable by others)";
    return "";
}

}  // namespace

CATCH_REGISTER_LISTENER(FailureCounter)

#ifdef PORTAL_SANITIZE_BUILD
// nss-systemd (getgrouplist in the tests' own lookups) keeps a few bytes for good.
extern "C" const char* __lsan_default_suppressions() { return "leak:libnss_systemd.so\n"; }
#endif

int main(int argc, char** argv) {
    if (listing_only(argc, argv)) return Catch::Session().run(argc, argv);  // test discovery
    if (auto why = missing_prerequisite(); !why.empty()) return skip(why);
    if (auto why = prepare_test_dir(); !why.empty()) {
        std::fprintf(stderr, "e2e_tests: FAILED: %s\n", why.c_str());
        return 1;
    }

    if (::unshare(CLONE_NEWNS) != 0) return skip(std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno));
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return skip(std::string("cannot make mounts private: ") + std::strerror(errno));
    // sshd's session processes outlive their parents; as a subreaper we still find and reap them.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    ::signal(SIGPIPE, SIG_IGN);
    return Catch::Session().run(argc, argv);
}
