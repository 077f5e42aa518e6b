// Child processes the end-to-end tests start (portal-keyd, sshd, ssh, helpers), owned RAII:
// a Process that goes out of scope is stopped (SIGTERM, then SIGKILL) and reaped, even when a
// REQUIRE threw. Plus small file and polling helpers.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portal::e2e {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct SpawnOptions {
    std::vector<std::string> argv;                // argv[0] is the program's path
    std::map<std::string, std::string> env;       // the whole environment (nothing inherited)
    std::filesystem::path output;                 // stdout+stderr appended here; empty: /dev/null
    std::optional<std::filesystem::path> stdin_file;  // default /dev/null
};

class Process {
public:
    Process() = default;
    explicit Process(const SpawnOptions& options);  // throws std::runtime_error
    ~Process();
    Process(Process&& other) noexcept;
    Process& operator=(Process&& other) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    bool running();  // reaps it when it has exited
    // Sends `sig` and waits up to `timeout`; then SIGKILL. Returns the exit code, 128+signal
    // when killed by a signal (also when it had already exited), -1 when never started.
    int stop(int sig = 15, std::chrono::milliseconds timeout = 5000ms);
    // Waits for it to exit by itself; nullopt on timeout (it keeps running).
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    std::optional<int> exit_code() const { return exit_code_; }

private:
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
};

struct CommandResult {
    int status = -1;  // exit code; 128+signal; -1 when it could not run or timed out
    std::string out;  // stdout and stderr, interleaved
    bool timed_out = false;
};

// Runs argv (no shell) with `env` (PATH is added when missing) and captures its output;
// killed after `timeout`.
CommandResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                  std::chrono::milliseconds timeout = 20000ms);

// Kills (SIGKILL) every descendant of this process except `keep`, and reaps what it can.
// The test binary is a child subreaper (main.cpp), so sshd's session processes that outlive
// their parent are still found here.
void kill_descendants(const std::vector<pid_t>& keep = {});
std::vector<pid_t> descendants_of(pid_t pid);

// Polls `done` every `interval` until it returns true or `timeout` passes; returns the last
// result.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = 50ms);

// Runs `work` in a forked child (e.g. after dropping to another uid there) and returns what
// it produced, sent back through a pipe; nullopt when the fork or the pipe failed.
std::optional<std::string> in_child(const std::function<std::string()>& work);

std::string read_file(const std::filesystem::path& p);  // "" when unreadable
void write_file(const std::filesystem::path& p, const std::string& content, unsigned mode = 0644);
std::string tail(const std::string& s, std::size_t n = 4000);
// TOML / sshd_config double-quoted string.
std::string quoted(const std::string& s);

}  // namespace portal::e2e
