#include "bench/spawner.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "shared/ipc/blocking_io.h"

namespace portal::bench {

namespace {

// Reads all of n bytes; false at EOF or on an error (writes: ipc::write_fully).
bool read_exact(int fd, void* data, std::size_t n) {
    auto* p = static_cast<char*>(data);
    while (n > 0) {
        const ssize_t r = ::read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

void put_string(std::string& out, const std::string& s) {
    const auto n = static_cast<std::uint64_t>(s.size());
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out += s;
}

bool get_string(int fd, std::string& s) {
    std::uint64_t n = 0;
    if (!read_exact(fd, &n, sizeof n)) return false;
    s.resize(n);
    return read_exact(fd, s.data(), n);
}

void put_strings(std::string& out, const std::vector<std::string>& v) {
    const auto n = static_cast<std::uint64_t>(v.size());
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    for (const auto& s : v) put_string(out, s);
}

bool get_strings(int fd, std::vector<std::string>& v) {
    std::uint64_t n = 0;
    if (!read_exact(fd, &n, sizeof n)) return false;
    v.resize(n);
    for (auto& s : v)
        if (!get_string(fd, s)) return false;
    return true;
}

struct Reply {
    double seconds, cpu_seconds;
    std::int32_t status;
    std::uint64_t output_bytes, kept_bytes;
};

[[noreturn]] void serve(int in, int out) {
    for (;;) {
        std::vector<std::string> argv, env;
        char keep = 0;
        if (!get_strings(in, argv) || !get_strings(in, env) || !read_exact(in, &keep, 1)) ::_exit(0);
        std::string output;
        const RunResult r = run_program(argv, env, keep ? &output : nullptr);
        const Reply reply{r.seconds, r.cpu_seconds, r.status, r.output_bytes, output.size()};
        const std::string_view head(reinterpret_cast<const char*>(&reply), sizeof reply);
        if (!ipc::write_fully(out, head) || !ipc::write_fully(out, output)) ::_exit(1);
    }
}

}  // namespace

Spawner::Spawner() {
    int down[2], up[2];
    if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
        ::close(down[1]);
        ::close(up[0]);
        serve(down[0], up[1]);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
}

Spawner::~Spawner() {
    ::close(to_child_);
    ::close(from_child_);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
}

RunResult Spawner::run(const std::vector<std::string>& argv, const std::vector<std::string>& env, std::string* keep_output) {
    std::string request;
    put_strings(request, argv);
    put_strings(request, env);
    request += keep_output ? '\1' : '\0';
    Reply reply{};
    if (!ipc::write_fully(to_child_, request) || !read_exact(from_child_, &reply, sizeof reply))
        throw std::runtime_error("the spawner process is gone");
    std::string output(reply.kept_bytes, '\0');
    if (!read_exact(from_child_, output.data(), output.size())) throw std::runtime_error("the spawner process is gone");
    if (keep_output) *keep_output = std::move(output);
    RunResult r;
    r.seconds = reply.seconds;
    r.cpu_seconds = reply.cpu_seconds;
    r.status = reply.status;
    r.output_bytes = reply.output_bytes;
    return r;
}

}  // namespace portal::bench
