// What the benchmarks share: a temp dir, a store seeded directly (fast: one transaction,
// no API round trips, no fsync per write), the real portal-keyd started on it, a minimal
// keep-alive HTTP/1.1 client for its Unix socket, and process/memory helpers.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "keyd/store/users_table.h"
#include "shared/ipc/login_state.h"

namespace portal::bench {

namespace fs = std::filesystem;

double now_seconds();  // CLOCK_MONOTONIC
double median(std::vector<double> v);  // 0 for none

// Creates <base>/<name>-XXXXXX (0755, so the daemon's sockets inside are reachable);
// removes it on destruction unless PORTAL_KEEP_BENCH_TMP is set.
class TempDir {
public:
    TempDir(const fs::path& base, const std::string& name);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

struct BenchKey {
    std::string line;  // "ssh-ed25519 <base64> <name>", as sshd would read it
    std::string md5;
    std::string sha256;
};

struct BenchUser {
    std::string id;
    std::string unix_name;
    std::uint32_t uid = 0;
    std::vector<BenchKey> keys;
};

struct Seeded {
    std::string account_id;
    std::vector<BenchUser> users;
    double keygen_seconds = 0;  // making and fingerprinting the keys
    double insert_seconds = 0;  // the one store transaction
};

// Opens keyd's Store at `database` and adds one account with `users` members (the first an
// owner, the rest managers) and `keys_per_user` distinct ed25519 keys each, in one
// transaction. Keys are wire-format blobs around pseudo-random 32-byte values (libssh
// accepts any 32 bytes for ed25519), fingerprinted by shared/ssh_key.h. Uids come from
// `uids` (the daemon's [users] range when it must match one).
Seeded seed_store(const fs::path& database, int users, int keys_per_user, store::UidRange uids = {});

// The `p` quantile (0..1) of `v`; 0 for none.
double percentile(std::vector<double> v, double p);
// A fresh ed25519 public key line ("ssh-ed25519 <base64> bench-<n>") around 32 random bytes.
std::string bench_key_line(long n);
// --name=N from argv, else `def`.
long flag_value(int argc, char** argv, const char* name, long def);

// One host enrolled in `account_id`, written into the store at `database` (the daemon not
// running); returns its host token.
std::string seed_host(const fs::path& database, const std::string& account_id);

// The login state the daemon would publish for `seed` (every member active, may log in).
ipc::LoginState login_state_of(const Seeded& seed, std::int64_t grace_seconds = 3600);

struct MemInfo {
    long rss_kib = -1;  // VmRSS
    long hwm_kib = -1;  // VmHWM (peak RSS)
};
MemInfo mem_info(pid_t pid);

struct CpuInfo {
    double cpu_s = 0;        // utime + stime, all threads
    double runq_wait_s = 0;  // /proc/<pid>/schedstat (main thread): waiting for a CPU
    double main_thread_s = 0;  // /proc/<pid>/schedstat: the main thread's time on a CPU (ns resolution)
};
CpuInfo cpu_info(pid_t pid);

// Where runtime directories go: $PORTAL_BENCH_RUN_BASE, else /dev/shm when it is a tmpfs
// (as /run is on a real system: the daemon fsyncs every drop-in and state file it writes,
// which costs little on tmpfs and a lot on a busy disk), else "" (inside the temp dir).
fs::path runtime_base();

// portal-keyd with its state in dir/state, its runtime directory (sockets, login state file,
// userdb drop-ins) at `runtime_dir` (default dir/run), stdout+stderr to dir/daemon.log.
class Daemon {
public:
    // `extra_toml`: whole sections appended to the configuration ([listen] for the feed bench).
    Daemon(fs::path binary, fs::path dir, fs::path run = {}, const std::string& extra_toml = "");
    ~Daemon();  // stops it if running
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Starts the daemon and waits until GET /v1/accounts answers 200. Throws (with the
    // log's tail) if it exits or does not answer within 300 s.
    struct StartInfo {
        double wall_s = 0;      // fork until the answer
        double cpu_s = 0;       // the daemon's user+system time by then (10 ms ticks)
        double runq_wait_s = 0; // its main thread's time runnable but not running: CPU contention
    };
    StartInfo start();
    void stop();  // SIGTERM, wait (SIGKILL after 30 s)
    pid_t pid() const { return pid_; }

    fs::path state_dir() const { return dir_ / "state"; }
    fs::path runtime_dir() const { return run_; }
    fs::path database() const { return state_dir() / "portal.db"; }
    fs::path api_socket() const { return runtime_dir() / "api.sock"; }
    fs::path login_socket() const { return runtime_dir() / "login.sock"; }
    fs::path login_state_dir() const { return runtime_dir() / "login-state"; }  // the fallback
    std::string log_tail() const;

private:
    fs::path bin_, dir_, run_, config_;
    pid_t pid_ = -1;
};

struct HttpResponse {
    int status = 0;
    bool close = false;  // the server said Connection: close
    std::string head;    // status line and headers
    std::string body;
    std::string header(const std::string& name) const;  // case-insensitive, "" when absent
};

// One keep-alive HTTP/1.1 connection on a Unix socket: blocking, hand-written, just enough
// for the daemon's replies (Content-Length bodies).
class HttpConnection {
public:
    explicit HttpConnection(const fs::path& socket);  // throws if it cannot connect
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;
    HttpResponse get(const std::string& target);  // throws on I/O errors
    HttpResponse request(const std::string& method, const std::string& target, const std::string& body,
                         const std::string& account_id = "");
    bool open() const { return fd_ >= 0; }

private:
    int fd_ = -1;
    std::string buf_;  // bytes read past the previous response
};

struct RunResult {
    double seconds = 0;    // fork until waitpid returned
    double cpu_seconds = 0;  // the child's user+system time (wait4 rusage)
    int status = -1;       // exit code, 128+signal
    std::size_t output_bytes = 0;
};
// fork + execve + wait with stdout drained through a pipe (as sshd reads a command's
// output), stderr to /dev/null. `keep_output` receives stdout when not null.
RunResult run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      std::string* keep_output = nullptr);

// Takes --users=N and --keys=N out of argv (Google Benchmark refuses flags it does not
// know) into users/keys; false, after saying why on stderr, when either is below 1.
bool take_size_flags(int& argc, char** argv, const char* program, int& users, int& keys);

}  // namespace portal::bench
