#include "pam_module/home_directory.h"

#include <pwd.h>
#include <security/pam_ext.h>
#include <security/pam_modutil.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace portal::login_path {
namespace {

// The helper copies a skeleton of a few files: far less than this. A helper stuck on a hung
// file system is killed, and the login goes on without a home rather than hanging sshd.
constexpr int kHelperTimeoutMs = 10'000;

// An octal mode ("0750", "027") for `key` in a login.defs-style file; nullopt when absent or
// not a mode.
std::optional<unsigned> mode_key(pam_handle_t* pamh, const std::string& file, const char* key) {
    std::unique_ptr<char, decltype(&std::free)> value(pam_modutil_search_key(pamh, file.c_str(), key), &std::free);
    if (!value) return std::nullopt;
    const std::string_view v = value.get();
    if (v.empty() || v.size() > 4) return std::nullopt;
    unsigned mode = 0;
    for (char c : v) {
        if (c < '0' || c > '7') return std::nullopt;
        mode = mode * 8 + static_cast<unsigned>(c - '0');
    }
    return mode;
}

std::string octal(unsigned mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
    return buf;
}

// SIGCHLD back to the default while the helper runs, so that an application's handler
// (sshd's) neither reaps it first nor sees it; restored after.
class DefaultSigchld {
public:
    DefaultSigchld() {
        struct sigaction sa {};
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        saved_ = sigaction(SIGCHLD, &sa, &old_) == 0;
    }
    ~DefaultSigchld() {
        if (saved_) sigaction(SIGCHLD, &old_, nullptr);
    }
    DefaultSigchld(const DefaultSigchld&) = delete;
    DefaultSigchld& operator=(const DefaultSigchld&) = delete;

private:
    struct sigaction old_ {};
    bool saved_ = false;
};

// Runs the helper with `args` (no environment, standard descriptors on /dev/null, every other
// descriptor closed); its wait status, or nullopt when it could not run or was killed for
// taking too long.
std::optional<int> run_helper(pam_handle_t* pamh, const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    char* envp[] = {nullptr};

    const DefaultSigchld sigchld;
    const pid_t pid = fork();
    if (pid < 0) {
        pam_syslog(pamh, LOG_ERR, "home directory: fork: %s", std::strerror(errno));
        return std::nullopt;
    }
    if (pid == 0) {
        if (pam_modutil_sanitize_helper_fds(pamh, PAM_MODUTIL_NULL_FD, PAM_MODUTIL_NULL_FD, PAM_MODUTIL_NULL_FD) < 0)
            _exit(126);
        execve(argv[0], argv.data(), envp);
        _exit(127);
    }
    int status = 0;
    for (int waited = 0;; waited += 10) {
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) {
            pam_syslog(pamh, LOG_ERR, "home directory: waitpid: %s", std::strerror(errno));
            return std::nullopt;
        }
        if (waited >= kHelperTimeoutMs) break;
        const timespec ten_ms{0, 10'000'000};
        nanosleep(&ten_ms, nullptr);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pam_syslog(pamh, LOG_ERR, "home directory: %s took longer than %d ms; killed", args[0].c_str(), kHelperTimeoutMs);
    return std::nullopt;
}

}  // namespace

void ensure_home_directory(pam_handle_t* pamh, const std::string& user, unsigned uid, const HomeOptions& options) {
    if (!options.create) return;
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) return;  // nothing to make it for
    if (pw.pw_uid != uid) return;  // another account under this name: not the member's
    const std::string home = pw.pw_dir ? pw.pw_dir : "";
    if (home.size() < 2 || home[0] != '/') {
        pam_syslog(pamh, LOG_WARNING, "home directory of %s: '%.100s' is not an absolute path; not made", user.c_str(),
                   home.c_str());
        return;
    }
    struct stat st {};
    if (lstat(home.c_str(), &st) == 0) return;  // there already: never touched
    if (errno != ENOENT) {
        pam_syslog(pamh, LOG_WARNING, "home directory %s: %s; not made", home.c_str(), std::strerror(errno));
        return;
    }
    // As pam_mkhomedir: the directory HOME_MODE, else 0777 & ~UMASK (the helper's umask
    // applies to the directories it makes).
    const unsigned umask_value = mode_key(pamh, options.login_defs, "UMASK").value_or(022) & 0777;
    const unsigned home_mode = mode_key(pamh, options.login_defs, "HOME_MODE").value_or(0777 & ~umask_value);
    const auto status =
        run_helper(pamh, {options.helper, user, octal(umask_value), options.skel, octal(home_mode)});
    if (!status) return;
    if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) {
        pam_syslog(pamh, LOG_INFO, "made home directory %s for %s (mode %s, from %s)", home.c_str(), user.c_str(),
                   octal(home_mode).c_str(), options.skel.c_str());
    } else {
        pam_syslog(pamh, LOG_ERR, "home directory %s for %s: %s failed (status %d); see its own log line", home.c_str(),
                   user.c_str(), options.helper.c_str(), *status);
    }
}

}  // namespace portal::login_path
