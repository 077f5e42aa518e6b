#include "tests/e2e/support/environment.h"

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
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "tests/e2e/support/world.h"

namespace portal::e2e {
namespace {

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

}  // namespace

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

std::string prepare_test_dir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path tmp = E2E_TMP;
    fs::create_directories(portal::e2e::keys_helper().parent_path(), ec);
    if (ec) return "cannot create " + tmp.string() + ": " + ec.message();
    // E2E_TMP, its bin/, and the per-tree and shared parents under /run/portal-keyd-tests.
    for (const fs::path& d : {tmp, tmp / "bin", tmp.parent_path(), tmp.parent_path().parent_path()})
        if (d.string().starts_with("/run/portal-keyd-tests") || d.string().starts_with(E2E_TMP)) ::chmod(d.c_str(), 0755);
    // The helper and the program it runs for the drop-in without %U, side by side as installed.
    const fs::path bin = portal::e2e::keys_helper().parent_path();
    for (const auto& [from, to] : {std::pair<fs::path, fs::path>{AUTHORIZED_KEYS_BIN, portal::e2e::keys_helper()},
                                   {AUTHORIZED_KEYS_NSS_BIN, bin / "authorized-keys-nss"}}) {
        fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
        if (ec) return "cannot copy " + from.string() + ": " + ec.message();
        ::chmod(to.c_str(), 0755);
    }
    if (!nobody_can_reach(portal::e2e::keys_helper(), E2E_TMP))
        return "user nobody cannot reach " + portal::e2e::keys_helper().string() + " or " + tmp.string() +
               " (a parent directory is not searchable by others)";
    return "";
}


std::string enter_private_namespace() {
    if (::unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return std::string("cannot make mounts private: ") + std::strerror(errno);
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    ::signal(SIGPIPE, SIG_IGN);
    return "";
}

}  // namespace portal::e2e
