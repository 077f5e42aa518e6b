#include "tests/e2e/support/process.h"
#include "shared/ipc/blocking_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace portal::e2e {
namespace fs = std::filesystem;

namespace {

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// Everything the child needs is prepared before fork: it only calls async-signal-safe functions.
struct ExecPlan {
    std::vector<std::string> argv_s, env_s;
    std::vector<char*> argv, envp;
    ExecPlan(const std::vector<std::string>& argv_in, const std::map<std::string, std::string>& env) : argv_s(argv_in) {
        for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
        for (auto& s : argv_s) argv.push_back(s.data());
        argv.push_back(nullptr);
        for (auto& s : env_s) envp.push_back(s.data());
        envp.push_back(nullptr);
    }
};

[[noreturn]] void child_exec(const ExecPlan& plan, int in_fd, int out_fd) {
    // Default signal dispositions and mask: sshd and the daemon install their own.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s)
        if (s != SIGKILL && s != SIGSTOP) ::signal(s, SIG_DFL);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    // A process group of its own, so a terminal's ^C reaches us only.
    ::setpgid(0, 0);
    ::execve(plan.argv[0], plan.argv.data(), plan.envp.data());
    const char msg[] = "exec failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
}

}  // namespace

Process::Process(const SpawnOptions& options) {
    if (options.argv.empty()) throw std::runtime_error("spawn: empty argv");
    ExecPlan plan(options.argv, options.env);
    const std::string out = options.output.empty() ? std::string("/dev/null") : options.output.string();
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) throw std::runtime_error("open " + out + ": " + std::strerror(errno));
    const std::string in = options.stdin_file ? options.stdin_file->string() : std::string("/dev/null");
    const int in_fd = ::open(in.c_str(), O_RDONLY | O_CLOEXEC);
    if (in_fd < 0) {
        ::close(out_fd);
        throw std::runtime_error("open " + in + ": " + std::strerror(errno));
    }
    const pid_t pid = ::fork();
    if (pid == 0) child_exec(plan, in_fd, out_fd);
    const int err = errno;
    ::close(out_fd);
    ::close(in_fd);
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(err));
    pid_ = pid;
}

Process::~Process() {
    if (pid_ > 0) stop(SIGTERM, 3000ms);
}

Process::Process(Process&& other) noexcept : pid_(other.pid_), exit_code_(other.exit_code_) { other.pid_ = -1; }

Process& Process::operator=(Process&& other) noexcept {
    if (this != &other) {
        if (pid_ > 0) stop(SIGTERM, 3000ms);
        pid_ = other.pid_;
        exit_code_ = other.exit_code_;
        other.pid_ = -1;
    }
    return *this;
}

bool Process::running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    exit_code_ = r == pid_ ? decode_status(status) : -1;  // -1: reaped by someone else
    pid_ = -1;
    return false;
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (running()) {
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(10ms);
    }
    return exit_code_;
}

int Process::stop(int sig, std::chrono::milliseconds timeout) {
    if (!running()) return exit_code_.value_or(-1);
    ::kill(pid_, sig);
    if (auto code = wait_exit(timeout)) return *code;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exit_code_ = decode_status(status);
    pid_ = -1;
    return *exit_code_;
}

CommandResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                  std::chrono::milliseconds timeout) {
    CommandResult result;
    auto full_env = env;
    full_env.emplace("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    ExecPlan plan(argv, full_env);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return result;
    const int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t pid = ::fork();
    if (pid == 0) child_exec(plan, in_fd, fds[1]);
    ::close(fds[1]);
    ::close(in_fd);
    if (pid < 0) {
        ::close(fds[0]);
        return result;
    }
    const auto deadline = Clock::now() + timeout;
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            result.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::min<long>(left, 200)));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        const ssize_t got = ::read(fds[0], buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        result.out.append(buf, static_cast<std::size_t>(got));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.status = result.timed_out ? -1 : decode_status(status);
    return result;
}

std::vector<pid_t> descendants_of(pid_t root) {
    std::map<pid_t, std::vector<pid_t>> children;
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            char* end = nullptr;
            const long pid = std::strtol(e->d_name, &end, 10);
            if (*end || pid <= 0) continue;
            std::ifstream in("/proc/" + std::string(e->d_name) + "/stat");
            std::string line;
            if (!std::getline(in, line)) continue;
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            const auto close = line.rfind(')');
            if (close == std::string::npos) continue;
            std::istringstream rest(line.substr(close + 1));
            std::string state;
            long ppid = 0;
            rest >> state >> ppid;
            children[static_cast<pid_t>(ppid)].push_back(static_cast<pid_t>(pid));
        }
        ::closedir(d);
    }
    std::vector<pid_t> out;
    std::vector<pid_t> todo{root};
    while (!todo.empty()) {
        const pid_t p = todo.back();
        todo.pop_back();
        for (pid_t c : children[p]) {
            out.push_back(c);
            todo.push_back(c);
        }
    }
    return out;
}

void kill_descendants(const std::vector<pid_t>& keep) {
    const std::set<pid_t> spared(keep.begin(), keep.end());
    std::set<pid_t> killed;
    for (int round = 0; round < 5; ++round) {
        bool any = false;
        for (pid_t p : descendants_of(::getpid())) {
            if (spared.count(p)) continue;
            ::kill(p, SIGKILL);
            killed.insert(p);
            any = true;
        }
        if (!any) break;
        // Reap our own children among them (direct children and re-parented orphans: we are a
        // subreaper); never a kept child, whose Process still wants its status.
        for (pid_t p : killed) ::waitpid(p, nullptr, WNOHANG);
        std::this_thread::sleep_for(20ms);
    }
    for (pid_t p : killed) ::waitpid(p, nullptr, WNOHANG);
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (done()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(interval);
    }
}

std::optional<std::string> in_child(const std::function<std::string()>& work) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        ::_exit(ipc::write_fully(fds[1], work()) ? 0 : 1);
    }
    ::close(fds[1]);
    if (pid < 0) {
        ::close(fds[0]);
        return std::nullopt;
    }
    std::string out;
    char chunk[8192];
    for (;;) {
        const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return out;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return {};
    std::ostringstream o;
    o << in.rdbuf();
    return o.str();
}

void write_file(const fs::path& p, const std::string& content, unsigned mode) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + p.string());
    out << content;
    out.close();
    if (::chmod(p.c_str(), static_cast<mode_t>(mode)) != 0)
        throw std::runtime_error("chmod " + p.string() + ": " + std::strerror(errno));
}

std::string tail(const std::string& s, std::size_t n) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

}  // namespace portal::e2e
