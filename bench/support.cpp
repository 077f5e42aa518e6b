#include "bench/support.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <variant>

#include "keyd/iam/authority/tokens.h"
#include "keyd/store/store.h"
#include "shared/ssh_key.h"
#include "shared/ipc/blocking_io.h"

extern char** environ;

namespace portal::bench {

namespace {

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::string toml_string(const fs::path& p) {
    std::string out = "\"";
    for (char c : p.string()) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

void put_u32(std::string& out, std::uint32_t v) {
    out += static_cast<char>((v >> 24) & 0xff);
    out += static_cast<char>((v >> 16) & 0xff);
    out += static_cast<char>((v >> 8) & 0xff);
    out += static_cast<char>(v & 0xff);
}

std::string base64(const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// An ed25519 public key line around 32 pseudo-random bytes: string "ssh-ed25519", string key.
std::string ed25519_line(std::mt19937_64& rng, const std::string& comment) {
    std::string blob;
    put_u32(blob, 11);
    blob += "ssh-ed25519";
    put_u32(blob, 32);
    for (int i = 0; i < 4; ++i) {
        const std::uint64_t r = rng();
        for (int b = 0; b < 8; ++b) blob += static_cast<char>((r >> (8 * b)) & 0xff);
    }
    return "ssh-ed25519 " + base64(blob) + " " + comment;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

int connect_unix(const fs::path& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string s = path.string();
    if (s.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + s);
    std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_errno("socket");
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        ::close(fd);
        errno = e;
        return -1;
    }
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

}  // namespace

double now_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// ---- TempDir ------------------------------------------------------------------------------

TempDir::TempDir(const fs::path& base, const std::string& name) {
    fs::create_directories(base);
    std::string tmpl = (base / (name + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) fail_errno("mkdtemp " + tmpl);
    path_ = tmpl;
    ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
    if (std::getenv("PORTAL_KEEP_BENCH_TMP")) {
        std::fprintf(stderr, "bench: keeping %s\n", path_.c_str());
        return;
    }
    std::error_code ec;
    fs::remove_all(path_, ec);
}

// ---- seeding ------------------------------------------------------------------------------

Seeded seed_store(const fs::path& database, int users, int keys_per_user, store::UidRange uids) {
    Seeded out;
    const double t0 = now_seconds();
    std::mt19937_64 rng(20240601);
    char buf[64];
    out.users.resize(static_cast<std::size_t>(users));
    for (int i = 0; i < users; ++i) {
        auto& u = out.users[static_cast<std::size_t>(i)];
        for (int k = 0; k < keys_per_user; ++k) {
            // Key names are unique per account; the comment carries the name.
            std::snprintf(buf, sizeof buf, "bench%05d-key%d", i, k + 1);
            auto parsed = parse_ssh_public_key(ed25519_line(rng, buf));
            if (auto* err = std::get_if<SshKeyError>(&parsed)) throw std::runtime_error("generated key: " + err->message);
            const auto& p = std::get<ParsedSshKey>(parsed);
            u.keys.push_back({p.normalized() + " " + p.comment, p.fingerprint_md5, p.fingerprint_sha256});
        }
    }
    const double t1 = now_seconds();
    out.keygen_seconds = t1 - t0;

    auto store = store::Store::open(database, uids);
    store->transaction([&] {
        out.account_id = store->accounts().create("Bench").id;
        for (int i = 0; i < users; ++i) {
            auto& bu = out.users[static_cast<std::size_t>(i)];
            std::snprintf(buf, sizeof buf, "%05d", i);
            const User u = store->users().create(std::string("bench") + buf + "@example.com", std::string("Bench User ") + buf);
            bu.id = u.id;
            bu.unix_name = u.unix_name;
            bu.uid = u.uid;
            Membership m;
            m.account_id = out.account_id;
            m.user_id = u.id;
            m.role = i == 0 ? Role::owner : Role::manager;
            m.status = MemberStatus::active;
            store->memberships().put(m);
            for (std::size_t k = 0; k < bu.keys.size(); ++k) {
                const auto& bk = bu.keys[k];
                SshKey key;
                key.account_id = out.account_id;
                key.user_id = u.id;
                key.name = bk.line.substr(bk.line.rfind(' ') + 1);
                key.fingerprint = bk.md5;
                key.fingerprint_sha256 = bk.sha256;
                key.public_key = bk.line.substr(0, bk.line.rfind(' '));
                key.type = "ssh-ed25519";
                key.bits = 256;
                store->ssh_keys().insert(key);
            }
        }
    });
    out.insert_seconds = now_seconds() - t1;
    return out;
}

ipc::LoginState login_state_of(const Seeded& seed, std::int64_t grace_seconds) {
    ipc::LoginState s;
    s.revision = 1;
    s.generated_at = static_cast<std::int64_t>(std::time(nullptr));
    s.grace_seconds = grace_seconds;
    s.account_id = seed.account_id;
    s.members.reserve(seed.users.size());
    for (std::size_t i = 0; i < seed.users.size(); ++i) {
        const auto& u = seed.users[i];
        ipc::LoginMember m;
        m.unix_name = u.unix_name;
        m.uid = u.uid;
        m.user_id = u.id;
        m.role = i == 0 ? Role::owner : Role::manager;
        m.status = MemberStatus::active;
        for (const auto& k : u.keys) m.keys.push_back({k.line, k.sha256});
        s.members.push_back(std::move(m));
    }
    return s;
}

MemInfo mem_info(pid_t pid) {
    MemInfo m;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) m.rss_kib = std::strtol(line.c_str() + 6, nullptr, 10);
        if (line.rfind("VmHWM:", 0) == 0) m.hwm_kib = std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return m;
}

CpuInfo cpu_info(pid_t pid) {
    CpuInfo c;
    {
        std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
        std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        // Fields after "(comm)": state is field 3, utime 14, stime 15.
        const auto close = all.rfind(')');
        if (close != std::string::npos) {
            std::istringstream rest(all.substr(close + 2));
            std::vector<std::string> f;
            std::string w;
            while (rest >> w && f.size() < 13) f.push_back(w);
            if (f.size() == 13) {
                const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
                c.cpu_s = (std::strtod(f[11].c_str(), nullptr) + std::strtod(f[12].c_str(), nullptr)) / tick;
            }
        }
    }
    std::ifstream sched("/proc/" + std::to_string(pid) + "/schedstat");
    double on_cpu_ns = 0, wait_ns = 0;
    if (sched >> on_cpu_ns >> wait_ns) {
        c.main_thread_s = on_cpu_ns * 1e-9;
        c.runq_wait_s = wait_ns * 1e-9;
    }
    return c;
}

// ---- Daemon -------------------------------------------------------------------------------

fs::path runtime_base() {
    if (const char* e = std::getenv("PORTAL_BENCH_RUN_BASE"); e && *e) return e;
    struct statfs sf{};
    if (::statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
    return {};
}

Daemon::Daemon(fs::path binary, fs::path dir, fs::path run, const std::string& extra_toml)
    : bin_(std::move(binary)), dir_(std::move(dir)), run_(std::move(run)) {
    if (run_.empty()) run_ = dir_ / "run";
    config_ = dir_ / "portal-keyd.toml";
    std::ofstream cfg(config_);
    // Defaults everywhere else (log_level info: every request is logged, as in production).
    cfg << "[daemon]\n"
        << "state_directory = " << toml_string(state_dir()) << "\n"
        << "runtime_directory = " << toml_string(runtime_dir()) << "\n"
        << "api_socket = " << toml_string(api_socket()) << "\n"
        << "login_socket = " << toml_string(login_socket()) << "\n"
        << "database = " << toml_string(database()) << "\n"
        << "secret_key = " << toml_string(state_dir() / "tfa.key") << "\n"
        << extra_toml;
    if (!cfg) throw std::runtime_error("cannot write " + config_.string());
    fs::create_directories(state_dir());
    ::chmod(state_dir().c_str(), 0700);
}

Daemon::~Daemon() {
    try {
        stop();
    } catch (...) {
    }
}

std::string Daemon::log_tail() const {
    std::ifstream in(dir_ / "daemon.log");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

Daemon::StartInfo Daemon::start() {
    if (pid_ > 0) throw std::runtime_error("daemon already running");
    const std::string log = (dir_ / "daemon.log").string();
    const std::string bin = bin_.string(), cfg = config_.string();
    // Everything the child needs is prepared before fork.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        const std::string_view v(*e);
        if (v.rfind("NOTIFY_SOCKET=", 0) == 0 || v.rfind("JOURNAL_STREAM=", 0) == 0 || v.rfind("LISTEN_", 0) == 0 ||
            v.rfind("WATCHDOG_", 0) == 0)
            continue;
        env_strings.emplace_back(v);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<char*> argv{const_cast<char*>(bin.c_str()), const_cast<char*>("--config"),
                            const_cast<char*>(cfg.c_str()), nullptr};

    const double t0 = now_seconds();
    const pid_t pid = ::fork();
    if (pid < 0) fail_errno("fork");
    if (pid == 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
        }
        ::execve(argv[0], argv.data(), envp.data());
        _exit(127);
    }
    pid_ = pid;
    // A pidfd turns readable when the daemon exits: poll on it is both the pause between
    // attempts and the exit check (waitpid(WNOHANG) in a loop cost far more system time).
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd < 0) fail_errno("pidfd_open");
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{pidfd};
    // Poll: connect (fails until the socket exists), then one request (answered only once
    // the daemon runs its event loop, i.e. after loading the store and the login state).
    while (true) {
        pollfd pfd{pidfd, POLLIN, 0};
        if (::poll(&pfd, 1, 0) > 0) {
            int st = 0;
            ::waitpid(pid_, &st, 0);
            pid_ = -1;
            throw std::runtime_error("portal-keyd exited during start-up; log:\n" + log_tail());
        }
        if (now_seconds() - t0 > 300) {
            stop();
            throw std::runtime_error("portal-keyd did not answer within 300 s; log:\n" + log_tail());
        }
        try {
            HttpConnection c(api_socket());
            // Any answer: an authority's 200, an agent's 503 (it serves no account API yet).
            if (c.get("/v1/accounts").status != 0) {
                StartInfo info;
                info.wall_s = now_seconds() - t0;
                const CpuInfo cpu = cpu_info(pid_);
                info.cpu_s = cpu.cpu_s;
                info.runq_wait_s = cpu.runq_wait_s;
                return info;
            }
        } catch (const std::exception&) {
        }
        // Coarse enough not to steal much CPU from the daemon on a 2-core machine.
        ::poll(&pfd, 1, 2);
    }
}

void Daemon::stop() {
    if (pid_ <= 0) return;
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    ::kill(pid_, SIGTERM);
    pollfd pfd{pidfd, POLLIN, 0};
    if (pidfd >= 0 && ::poll(&pfd, 1, 30000) == 0) ::kill(pid_, SIGKILL);  // 30 s: give up
    if (pidfd >= 0) ::close(pidfd);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
}

// ---- HTTP ---------------------------------------------------------------------------------

std::string HttpResponse::header(const std::string& name) const {
    const std::string want = lower(name) + ":";
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
        const std::size_t start = pos + 2;
        const std::size_t end = head.find("\r\n", start);
        const std::string line = head.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (lower(line.substr(0, want.size())) == want) {
            std::size_t v = want.size();
            while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
            return line.substr(v);
        }
        pos = end;
    }
    return "";
}

HttpConnection::HttpConnection(const fs::path& socket) {
    fd_ = connect_unix(socket);
    if (fd_ < 0) fail_errno("connect " + socket.string());
}

HttpConnection::~HttpConnection() {
    if (fd_ >= 0) ::close(fd_);
}

HttpResponse HttpConnection::get(const std::string& target) { return request("GET", target, ""); }

HttpResponse HttpConnection::request(const std::string& method, const std::string& target, const std::string& body,
                                     const std::string& account_id) {
    if (fd_ < 0) throw std::runtime_error("connection closed");
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n";
    if (!account_id.empty()) req += "X-Account-Id: " + account_id + "\r\n";
    if (!body.empty())
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    if (!ipc::write_fully(fd_, req)) fail_errno("write");

    char chunk[65536];
    auto fill = [&] {
        const ssize_t n = ::read(fd_, chunk, sizeof chunk);
        if (n < 0) fail_errno("read");
        if (n == 0) throw std::runtime_error("connection closed by the server");
        buf_.append(chunk, static_cast<std::size_t>(n));
    };
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) fill();
    HttpResponse r;
    r.head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    if (r.head.size() < 12 || r.head.compare(0, 5, "HTTP/") != 0) throw std::runtime_error("bad status line");
    r.status = std::atoi(r.head.c_str() + 9);
    const std::string cl = r.header("content-length");
    if (cl.empty()) throw std::runtime_error("response without Content-Length");
    const auto len = static_cast<std::size_t>(std::strtoull(cl.c_str(), nullptr, 10));
    while (buf_.size() < len) fill();
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    r.close = lower(r.header("connection")) == "close";
    if (r.close) {
        ::close(fd_);
        fd_ = -1;
    }
    return r;
}

// ---- processes ----------------------------------------------------------------------------

RunResult run_program(const std::vector<std::string>& args, const std::vector<std::string>& env,
                      std::string* keep_output) {
    std::vector<char*> argv, envp;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail_errno("pipe");
    RunResult r;
    const double t0 = now_seconds();
    const pid_t pid = ::fork();
    if (pid < 0) fail_errno("fork");
    if (pid == 0) {
        ::dup2(fds[1], STDOUT_FILENO);
        const int null = ::open("/dev/null", O_WRONLY);
        if (null >= 0) ::dup2(null, STDERR_FILENO);
        ::execve(argv[0], argv.data(), envp.data());
        _exit(127);
    }
    ::close(fds[1]);
    char chunk[65536];
    while (true) {
        const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        r.output_bytes += static_cast<std::size_t>(n);
        if (keep_output) keep_output->append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int st = 0;
    rusage ru{};
    while (::wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
    }
    r.seconds = now_seconds() - t0;
    auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6; };
    r.cpu_seconds = secs(ru.ru_utime) + secs(ru.ru_stime);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

namespace {
bool take_int_flag(const char* arg, const char* name, int& out) {
    const std::size_t n = std::strlen(name);
    if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
    out = std::atoi(arg + n + 1);
    return true;
}
}  // namespace

bool take_size_flags(int& argc, char** argv, const char* program, int& users, int& keys) {
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        if (take_int_flag(argv[i], "--users", users) || take_int_flag(argv[i], "--keys", keys)) continue;
        argv[kept++] = argv[i];
    }
    argc = kept;
    if (users < 1 || keys < 1) {
        std::fprintf(stderr, "%s: --users and --keys must be >= 1\n", program);
        return false;
    }
    return true;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// A fresh ed25519 public key line: the wire format around 32 random bytes (any 32 bytes are
// an ed25519 public key to the parser).
std::string bench_key_line(long n) {
    std::string blob;
    auto put = [&](const std::string& s) {
        const auto len = static_cast<std::uint32_t>(s.size());
        for (int shift = 24; shift >= 0; shift -= 8) blob.push_back(static_cast<char>((len >> shift) & 0xff));
        blob += s;
    };
    put("ssh-ed25519");
    std::string key(32, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32);
    put(key);
    std::string b64(4 * ((blob.size() + 2) / 3) + 1, '\0');
    const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                    reinterpret_cast<const unsigned char*>(blob.data()), static_cast<int>(blob.size()));
    b64.resize(static_cast<std::size_t>(len));
    return "ssh-ed25519 " + b64 + " bench-" + std::to_string(n);
}

long flag_value(int argc, char** argv, const char* name, long def) {
    const std::string prefix = std::string("--") + name + "=";
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return std::stol(argv[i] + prefix.size());
    return def;
}


std::string seed_host(const fs::path& database, const std::string& account_id) {
    namespace authority = portal::iam::authority;
    const std::string host_token = authority::new_credential(authority::kHostTokenPrefix);
    auto store = portal::store::Store::open(database);
    const std::string enrol = authority::new_credential(authority::kEnrolmentTokenPrefix);
    portal::HostEnrolment e{"enr_bench", account_id, std::nullopt, {}, "2026-01-01T00:00:00Z", "2999-01-01T00:00:00Z"};
    store->hosts().insert_enrolment(e, authority::credential_hash(enrol));
    portal::Host h;
    h.id = "hst_bench";
    h.hostname = "bench";
    h.version = "0.1.0";
    h.created_at = "2026-01-01T00:00:00Z";
    if (!store->hosts().register_host(authority::credential_hash(enrol), "2026-06-01T00:00:00Z", h,
                                      authority::credential_hash(host_token)))
        throw std::runtime_error("cannot seed the host");
    return host_token;
}

}  // namespace portal::bench
