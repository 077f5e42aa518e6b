#include "pam_module/home_directory.h"

#include <pwd.h>
#include <security/pam_ext.h>
#include <security/pam_modutil.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
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
// descriptor closed); its exit code, or nullopt when it could not run or was killed for taking
// too long. The helper runs under a middle process that leads their process group and only
// waits for it: at the deadline the whole group is killed and the middle, never stuck in the
// kernel itself, is reaped at once, so a helper hung on a dead file system (uninterruptible,
// deaf to SIGKILL) cannot hold up the login; init inherits it.
std::optional<int> run_helper(pam_handle_t* pamh, const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    char* envp[] = {nullptr};

    const DefaultSigchld sigchld;
    const pid_t middle = fork();
    if (middle < 0) {
        pam_syslog(pamh, LOG_ERR, "home directory: fork: %s", std::strerror(errno));
        return std::nullopt;
    }
    if (middle == 0) {
        (void)setpgid(0, 0);
        if (pam_modutil_sanitize_helper_fds(pamh, PAM_MODUTIL_NULL_FD, PAM_MODUTIL_NULL_FD, PAM_MODUTIL_NULL_FD) < 0)
            _exit(126);
        const pid_t helper = fork();
        if (helper < 0) _exit(126);
        if (helper == 0) {
            execve(argv[0], argv.data(), envp);
            _exit(127);
        }
        int st = 0;
        while (waitpid(helper, &st, 0) < 0)
            if (errno != EINTR) _exit(126);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 125);
    }
    (void)setpgid(middle, middle);  // also here: whichever runs first
    timespec start{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status = 0;
    for (;;) {
        const pid_t r = waitpid(middle, &status, WNOHANG);
        if (r == middle) return WIFEXITED(status) ? std::optional<int>(WEXITSTATUS(status)) : std::nullopt;
        if (r < 0 && errno != EINTR) {
            pam_syslog(pamh, LOG_ERR, "home directory: waitpid: %s", std::strerror(errno));
            return std::nullopt;
        }
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        const long long elapsed_ms = (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1'000'000;
        if (elapsed_ms >= kHelperTimeoutMs) break;
        const timespec ten_ms{0, 10'000'000};
        nanosleep(&ten_ms, nullptr);
    }
    kill(-middle, SIGKILL);
    kill(middle, SIGKILL);
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {
    }
    pam_syslog(pamh, LOG_ERR, "home directory: %s took longer than %d ms; killed", args[0].c_str(), kHelperTimeoutMs);
    return std::nullopt;
}

// Holds an exclusive lock on the home base directory while a home is made there, so that two
// first logins at once (parallel scp, a configuration tool) make it once: the second finds it.
// Waits at most as long as one helper may run.
class HomeBaseLock {
public:
    explicit HomeBaseLock(const std::string& base) {
        fd_ = ::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd_ < 0) fd_ = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);  // base not made yet: the helper makes it
        if (fd_ < 0) return;
        for (int waited = 0; waited <= kHelperTimeoutMs + 1000; waited += 20) {
            if (flock(fd_, LOCK_EX | LOCK_NB) == 0) {
                locked_ = true;
                return;
            }
            if (errno != EWOULDBLOCK && errno != EINTR) return;
            const timespec twenty_ms{0, 20'000'000};
            nanosleep(&twenty_ms, nullptr);
        }
    }
    ~HomeBaseLock() {
        if (fd_ >= 0) ::close(fd_);  // releases the lock
    }
    HomeBaseLock(const HomeBaseLock&) = delete;
    HomeBaseLock& operator=(const HomeBaseLock&) = delete;
    bool locked() const { return locked_; }

private:
    int fd_ = -1;
    bool locked_ = false;
};

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
    const std::string base = home.substr(0, std::max<std::size_t>(home.rfind('/'), 1));
    const HomeBaseLock lock(base);
    if (!lock.locked()) {
        pam_syslog(pamh, LOG_WARNING, "home directory %s: could not lock %s; not made", home.c_str(), base.c_str());
        return;
    }
    if (lstat(home.c_str(), &st) == 0) return;  // made meanwhile by another login
    // As pam_mkhomedir: the directory HOME_MODE, else 0777 & ~UMASK (the helper's umask
    // applies to the directories it makes).
    const unsigned umask_value = mode_key(pamh, options.login_defs, "UMASK").value_or(022) & 0777;
    const unsigned home_mode = mode_key(pamh, options.login_defs, "HOME_MODE").value_or(0777 & ~umask_value);
    const auto code = run_helper(pamh, {options.helper, user, octal(umask_value), options.skel, octal(home_mode)});
    if (code && *code == 0) {
        pam_syslog(pamh, LOG_INFO, "made home directory %s for %s (mode %s, from %s)", home.c_str(), user.c_str(),
                   octal(home_mode).c_str(), options.skel.c_str());
        return;
    }
    // A helper that failed half-way may leave the directory behind, and an existing path is
    // never touched again: say what to do about it.
    const bool left = lstat(home.c_str(), &st) == 0;
    pam_syslog(pamh, LOG_ERR, "home directory %s for %s: %s failed (%s)%s", home.c_str(), user.c_str(),
               options.helper.c_str(), code ? ("exit " + std::to_string(*code)).c_str() : "did not finish",
               left ? "; it left the directory behind: check it, or remove it to have it made again at the next login"
                    : "");
}

}  // namespace portal::login_path
