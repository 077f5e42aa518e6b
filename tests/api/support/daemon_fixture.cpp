#include "tests/api/support/daemon_fixture.h"
#include "shared/ipc/blocking_io.h"
#include "shared/ipc/unique_fd.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace portal::test {
namespace fs = std::filesystem;

namespace {

// ---- libcurl --------------------------------------------------------------------------

void curl_init_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* headers = static_cast<std::map<std::string, std::string>*>(user);
    std::string line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) {
        headers->clear();  // a new response (after 100 Continue): keep only the final one
    } else if (auto colon = line.find(':'); colon != std::string::npos) {
        (*headers)[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    return size * n;
}

// Runs the request in this process, connecting to `socket_path` as given.
HttpResult perform(const std::string& socket_path, const HttpRequest& req) {
    curl_init_once();
    HttpResult out;
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) {
        out.error = "curl_easy_init failed";
        return out;
    }
    CURL* c = curl.get();
    std::string url = "http://localhost" + req.path;
    if (req.https) {
        url = "https://" + req.https->address + req.path;
        // The self-signed certificate is trusted by its pin alone (the chain is not checked).
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, req.https->pin.c_str());
        if (!req.https->source_ip.empty()) curl_easy_setopt(c, CURLOPT_INTERFACE, req.https->source_ip.c_str());
    } else {
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path.c_str());
    }
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);  // the path as the test wrote it ("/v1/../x" too)
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT, req.timeout_seconds);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &out.headers);

    curl_slist* raw_list = nullptr;
    bool has_content_type = false;
    for (const auto& [k, v] : req.headers) {
        if (lower(k) == "content-type") has_content_type = true;
        raw_list = curl_slist_append(raw_list, (k + ": " + v).c_str());
    }
    if (req.body) {
        if (!has_content_type) raw_list = curl_slist_append(raw_list, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body->data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body->size()));
    }
    std::unique_ptr<curl_slist, SlistDeleter> list(raw_list);
    if (list) curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) out.error = curl_easy_strerror(rc);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    out.status = status;
    if (!out.body.empty()) {
        out.json = nlohmann::json::parse(out.body, nullptr, /*allow_exceptions=*/false);
        if (out.json.is_discarded()) out.json = nullptr;
    }
    return out;
}

// ---- the result through a pipe: length-prefixed fields ----------------------------------

void put_str(std::string& buf, const std::string& s) {
    std::uint64_t n = s.size();
    buf.append(reinterpret_cast<const char*>(&n), sizeof n);
    buf.append(s);
}

bool get_str(const std::string& buf, std::size_t& pos, std::string& out) {
    std::uint64_t n = 0;
    if (pos + sizeof n > buf.size()) return false;
    std::memcpy(&n, buf.data() + pos, sizeof n);
    pos += sizeof n;
    if (n > buf.size() - pos) return false;
    out.assign(buf, pos, static_cast<std::size_t>(n));
    pos += static_cast<std::size_t>(n);
    return true;
}

std::string serialize(const HttpResult& r) {
    std::string buf;
    put_str(buf, std::to_string(r.status));
    put_str(buf, r.error);
    put_str(buf, r.body);
    put_str(buf, std::to_string(r.headers.size()));
    for (const auto& [k, v] : r.headers) {
        put_str(buf, k);
        put_str(buf, v);
    }
    return buf;
}

bool deserialize(const std::string& buf, HttpResult& r) {
    std::size_t pos = 0;
    std::string status, count;
    if (!get_str(buf, pos, status) || !get_str(buf, pos, r.error) || !get_str(buf, pos, r.body) ||
        !get_str(buf, pos, count))
        return false;
    r.status = std::stol(status);
    for (long i = 0, n = std::stol(count); i < n; ++i) {
        std::string k, v;
        if (!get_str(buf, pos, k) || !get_str(buf, pos, v)) return false;
        r.headers[k] = v;
    }
    if (!r.body.empty()) {
        r.json = nlohmann::json::parse(r.body, nullptr, false);
        if (r.json.is_discarded()) r.json = nullptr;
    }
    return true;
}

using Fd = ipc::UniqueFd;

HttpResult perform_as(const fs::path& socket, const HttpRequest& req) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    Fd rd(fds[0]), wr(fds[1]);
    const std::string dir = socket.parent_path().string();
    const std::string name = socket.filename().string();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        // Child: enter the socket's directory while still root, then become `uid` for good.
        HttpResult r;
        const gid_t gid = static_cast<gid_t>(req.uid);
        if (::chdir(dir.c_str()) != 0) r.error = std::string("chdir: ") + std::strerror(errno);
        else if (::setgroups(0, nullptr) != 0) r.error = std::string("setgroups: ") + std::strerror(errno);
        else if (::setgid(gid) != 0) r.error = std::string("setgid: ") + std::strerror(errno);
        else if (::setuid(req.uid) != 0) r.error = std::string("setuid: ") + std::strerror(errno);
        else if (::getuid() != req.uid || ::geteuid() != req.uid) r.error = "privileges not dropped";
        else r = perform(name, req);
        bool ok = ipc::write_fully(wr.get(), serialize(r));
        ::_exit(ok ? 0 : 1);
    }
    wr.reset();
    std::string buf;
    char chunk[65536];
    for (;;) {
        ssize_t n = ::read(rd.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        buf.append(chunk, static_cast<std::size_t>(n));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    HttpResult r;
    if (!deserialize(buf, r)) r.error = "child (uid " + std::to_string(req.uid) + ") sent no result";
    return r;
}

std::string toml_string(const fs::path& p) {
    std::string s = "\"";
    for (char c : p.string()) {
        if (c == '"' || c == '\\') s += '\\';
        s += c;
    }
    return s + "\"";
}

std::string tail(const std::string& s, std::size_t n) { return s.size() <= n ? s : s.substr(s.size() - n); }

}  // namespace

// ---- HttpResult -----------------------------------------------------------------------------

std::string HttpResult::header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
}

std::string HttpResult::describe() const {
    std::ostringstream o;
    o << "HTTP " << status;
    if (!error.empty()) o << " (curl: " << error << ")";
    o << " body: " << (body.size() > 600 ? body.substr(0, 600) + "..." : body);
    return o.str();
}

HttpResult http_request(const fs::path& socket, const HttpRequest& req) {
    if (req.uid == 0 || req.https) return perform(socket.string(), req);
    return perform_as(socket, req);
}

// ---- Daemon ---------------------------------------------------------------------------------

Daemon::Daemon(const std::string& name, DaemonOptions opts) {
    const fs::path base = PORTAL_TEST_TMP;
    fs::create_directories(base);
    ::chmod(base.c_str(), 0755);
    std::string templ = (base / (name + "-XXXXXX")).string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
    dir_ = templ;
    // Other uids connect to the socket inside: the temp dir must be searchable by them.
    ::chmod(dir_.c_str(), 0755);
    config_ = dir_ / "portal-keyd.toml";

    std::ofstream cfg(config_);
    cfg << "[daemon]\n"
        << "state_directory = " << toml_string(state_dir()) << "\n"
        << "runtime_directory = " << toml_string(runtime_dir()) << "\n"
        << "api_socket = " << toml_string(socket()) << "\n"
        << "login_socket = " << toml_string(runtime_dir() / "login.sock") << "\n"
        << "database = " << toml_string(database()) << "\n"
        << "secret_key = " << toml_string(secret_key()) << "\n"
        << "log_level = \"" << opts.log_level << "\"\n"
        << "\n[tfa]\n"
        << "max_failures = " << opts.tfa_max_failures << "\n"
        << "failure_window = " << opts.tfa_failure_window << "\n"
        << "lockout = " << opts.tfa_lockout << "\n"
        << "\n"
        << opts.extra_toml << "\n";
    // Security notices never reach this machine's MTA unless a test asks for its fake one.
    if (opts.extra_toml.find("[notifications]") == std::string::npos) cfg << "[notifications]\nsendmail = \"\"\n";
    cfg.close();
    if (!cfg) throw std::runtime_error("cannot write " + config_.string());
    start();
}

Daemon::~Daemon() {
    if (running()) {
        int code = stop();
        CHECK(code == 0);
        if (code != 0) WARN("portal-keyd did not exit cleanly; log tail:\n" << tail(log(), 3000));
    }
    if (!std::getenv("PORTAL_KEEP_TEST_TMP")) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

void Daemon::start() {
    if (running()) throw std::logic_error("daemon already running");
    // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
    // PORTAL_TEST_KEYD_BIN runs the tests against another build (e.g. to see a new test fail
    // on the code before a fix).
    const char* other_bin = std::getenv("PORTAL_TEST_KEYD_BIN");
    const std::string bin = other_bin && *other_bin ? other_bin : PORTAL_KEYD_BIN;
    const std::string cfg = config_.string();
    const std::string logp = log_path().string();
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) {
        std::string_view kv = *e;
        // Not under systemd here: log to stderr, no sd_notify, no watchdog.
        if (kv.rfind("NOTIFY_SOCKET=", 0) == 0 || kv.rfind("JOURNAL_STREAM=", 0) == 0 ||
            kv.rfind("WATCHDOG_", 0) == 0 || kv.rfind("LISTEN_", 0) == 0)
            continue;
        env_store.emplace_back(kv);
    }
    std::vector<char*> envp;
    for (auto& s : env_store) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<char*> argv{const_cast<char*>(bin.c_str()), const_cast<char*>("--config"), const_cast<char*>(cfg.c_str()),
                            nullptr};

    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        int log_fd = ::open(logp.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null_fd = ::open("/dev/null", O_RDONLY);
        if (log_fd < 0 || null_fd < 0) ::_exit(126);
        ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    pid_ = pid;

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        pid_t w = ::waitpid(pid_, &status, WNOHANG);
        if (w == pid_) {
            pid_ = -1;
            std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                              : WEXITSTATUS(status) == 127 ? std::string("exit 127: cannot execute ") + PORTAL_KEYD_BIN
                                                           : "exit " + std::to_string(WEXITSTATUS(status));
            throw std::runtime_error("portal-keyd exited during startup (" + how + "); log:\n" + tail(log(), 3000));
        }
        if (fs::exists(socket())) {
            HttpRequest probe;
            probe.path = "/v1/accounts";
            probe.timeout_seconds = 2;
            // Any answer: an authority says 200, an agent too (from its synced copy).
            if (http_request(socket(), probe).status != 0) return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill_hard();
    throw std::runtime_error("portal-keyd did not answer on " + socket().string() + " within 15 s; log:\n" +
                             tail(log(), 3000));
}

int Daemon::wait_exit(int timeout_ms) {
    for (int waited = 0;; waited += 10) {
        int status = 0;
        pid_t w = ::waitpid(pid_, &status, WNOHANG);
        if (w == pid_) {
            pid_ = -1;
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
            return 255;
        }
        if (w < 0 && errno != EINTR) {
            pid_ = -1;
            return 255;
        }
        if (waited >= timeout_ms) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

int Daemon::stop() {
    if (!running()) return 0;
    ::kill(pid_, SIGTERM);
    int code = wait_exit(15000);
    if (code < 0) {
        kill_hard();
        return 137;
    }
    return code;
}

void Daemon::kill_hard() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

std::string Daemon::log() const { return read_file(log_path()); }

HttpResult Daemon::send(HttpRequest req) const { return http_request(socket(), req); }

HttpResult Daemon::get(const std::string& path, uid_t uid, HeaderList headers) const {
    return send({"GET", path, std::nullopt, std::move(headers), uid, 30, std::nullopt});
}

HttpResult Daemon::post(const std::string& path, const nlohmann::json& body, uid_t uid, HeaderList headers) const {
    return send({"POST", path, body.dump(), std::move(headers), uid, 30, std::nullopt});
}

HttpResult Daemon::put(const std::string& path, const nlohmann::json& body, uid_t uid, HeaderList headers) const {
    return send({"PUT", path, body.dump(), std::move(headers), uid, 30, std::nullopt});
}

HttpResult Daemon::del(const std::string& path, uid_t uid, HeaderList headers) const {
    return send({"DELETE", path, std::nullopt, std::move(headers), uid, 30, std::nullopt});
}

HttpResult Daemon::send_raw(const std::string& method, const std::string& path, std::string body, uid_t uid,
                            HeaderList headers) const {
    return send({method, path, std::move(body), std::move(headers), uid, 30, std::nullopt});
}

// ---- files and commands -----------------------------------------------------------------------

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return {};
    std::ostringstream o;
    o << in.rdbuf();
    return o.str();
}

std::string run_command(const std::string& cmd, int* status) {
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) {
        if (status) *status = -1;
        return out;
    }
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    int st = ::pclose(f);
    if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

}  // namespace portal::test
