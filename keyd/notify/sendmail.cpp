#include "keyd/notify/sendmail.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "shared/ipc/unique_fd.h"

namespace portal::notify {
namespace {

using Clock = std::chrono::steady_clock;

struct Pipe {
    ipc::UniqueFd read, write;
};

Pipe make_pipe() {
    std::array<int, 2> fds{};
    if (::pipe2(fds.data(), O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    return {ipc::UniqueFd(fds[0]), ipc::UniqueFd(fds[1])};
}

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1000));
}

// The first line of what the program said on stderr, bounded, for the notification's last_error.
std::string first_line(const std::string& s) {
    std::string line = s.substr(0, s.find('\n'));
    if (line.size() > 200) line.resize(200);
    for (char& c : line)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return line;
}

}  // namespace

SendResult run_sendmail(const std::filesystem::path& program, const std::string& message, std::chrono::milliseconds timeout) {
    Pipe in = make_pipe(), err = make_pipe();
    ::fcntl(in.write.get(), F_SETFL, O_NONBLOCK);
    ::fcntl(err.read.get(), F_SETFL, O_NONBLOCK);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in.read.get(), 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, err.write.get(), 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::string path = program.string();
    std::vector<char*> argv{path.data(), const_cast<char*>("-t"), const_cast<char*>("-i"), nullptr};
    std::string path_env = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    std::vector<char*> envp{path_env.data(), nullptr};
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return {false, "cannot run " + path + ": " + std::strerror(rc)};
    in.read.reset();
    err.write.reset();

    const auto deadline = Clock::now() + timeout;
    std::size_t written = 0;
    std::string stderr_text;
    bool timed_out = false;
    // Feed stdin and drain stderr until both are done, or the deadline.
    while (in.write.get() >= 0 || err.read.get() >= 0) {
        std::array<pollfd, 2> p{};
        nfds_t n = 0;
        if (in.write.get() >= 0) p[n++] = {in.write.get(), POLLOUT, 0};
        if (err.read.get() >= 0) p[n++] = {err.read.get(), POLLIN, 0};
        if (Clock::now() >= deadline) {
            timed_out = true;
            break;
        }
        if (::poll(p.data(), n, remaining_ms(deadline)) < 0 && errno != EINTR) break;
        for (nfds_t i = 0; i < n; ++i) {
            if (!p[i].revents) continue;
            if (in.write.get() >= 0 && p[i].fd == in.write.get()) {
                const ssize_t w = ::write(in.write.get(), message.data() + written, message.size() - written);
                if (w > 0) written += static_cast<std::size_t>(w);
                if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == message.size()) in.write.reset();
            } else if (err.read.get() >= 0 && p[i].fd == err.read.get()) {
                std::array<char, 512> buf{};
                const ssize_t r = ::read(err.read.get(), buf.data(), buf.size());
                if (r > 0 && stderr_text.size() < 4096) stderr_text.append(buf.data(), static_cast<std::size_t>(r));
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) err.read.reset();
            }
        }
    }
    int status = 0;
    for (;;) {
        const pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) return {false, "waitpid: " + std::string(std::strerror(errno))};
        if (timed_out || Clock::now() >= deadline) {
            timed_out = true;
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        ::usleep(10000);
    }
    if (timed_out)
        return {false, path + " did not finish within " + std::to_string(timeout.count() / 1000) + " s (killed)"};
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (written != message.size()) return {false, path + " exited before reading the whole message"};
        return {true, ""};
    }
    std::string why = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                        : "killed by signal " + std::to_string(WTERMSIG(status));
    const std::string said = first_line(stderr_text);
    return {false, path + ": " + why + (said.empty() ? "" : ": " + said)};
}

}  // namespace portal::notify
