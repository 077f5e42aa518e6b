// The real portal-keyd for API tests: a temp dir with every path inside it, the daemon
// started with --config, and an HTTP client that talks to its socket as root or, in a
// forked child that drops privileges, as any other uid (the caller is SO_PEERCRED).
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace portal::test {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpResult {
    long status = 0;                             // 0 when the request did not complete
    std::map<std::string, std::string> headers;  // names lower-case
    std::string body;
    nlohmann::json json;  // parsed body; null when empty or not JSON
    std::string error;    // libcurl's error text, empty on success

    std::string header(const std::string& lower_name) const;  // "" when absent
    bool has_header(const std::string& lower_name) const { return headers.count(lower_name) != 0; }
    // One-line summary for assertion messages.
    std::string describe() const;
};

// The daemon's HTTPS listener, trusted by the pin of its certificate (as curl --pinnedpubkey).
struct HttpsTarget {
    std::string address;    // "127.0.0.1:41234"
    std::string pin;        // "sha256//..."
    std::string source_ip;  // bind the client to this address first ("127.0.0.2"); "" = any
};

struct HttpRequest {
    std::string method = "GET";
    std::string path;                  // "/v1/account?x=y"
    std::optional<std::string> body;   // raw bytes; sent with Content-Type application/json
    HeaderList headers;                // extra request headers
    uid_t uid = 0;                     // 0: this process (root); otherwise a child as that uid
    long timeout_seconds = 30;
    std::optional<HttpsTarget> https;  // set: over HTTPS instead of the socket (uid unused)
};

// Performs one request on `socket`. For uid != 0 it forks; the child enters the socket's
// directory before dropping privileges (so the test tree's parents need not be searchable),
// sets groups/gid/uid, connects, and sends the result back through a pipe.
HttpResult http_request(const std::filesystem::path& socket, const HttpRequest& req);

struct DaemonOptions {
    std::string log_level = "debug";  // debug: the secret-leak checks see every line
    int tfa_max_failures = 5;
    int tfa_failure_window = 300;
    int tfa_lockout = 300;
    std::string extra_toml;  // appended verbatim (whole sections)
};

class Daemon {
public:
    // Creates PORTAL_TEST_TMP/<name>-XXXXXX (0755), writes the config, starts the daemon.
    explicit Daemon(const std::string& name = "api", DaemonOptions opts = {});
    // Stops with SIGTERM and checks a clean exit 0; removes the temp dir unless
    // PORTAL_KEEP_TEST_TMP is set.
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Starts the daemon and waits until the socket answers; throws with the log's tail if
    // it exits or does not answer within 15 s.
    void start();
    // SIGTERM and wait; returns the exit code (128+signal if killed by a signal).
    int stop();
    // SIGKILL and reap (crash tests).
    void kill_hard();
    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }

    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path state_dir() const { return dir_ / "state"; }
    std::filesystem::path runtime_dir() const { return dir_ / "run"; }
    std::filesystem::path socket() const { return runtime_dir() / "api.sock"; }
    std::filesystem::path database() const { return state_dir() / "portal.db"; }
    std::filesystem::path secret_key() const { return state_dir() / "tfa.key"; }
    std::filesystem::path log_path() const { return dir_ / "daemon.log"; }
    std::string log() const;

    HttpResult send(HttpRequest req) const;
    HttpResult get(const std::string& path, uid_t uid = 0, HeaderList headers = {}) const;
    HttpResult post(const std::string& path, const nlohmann::json& body, uid_t uid = 0, HeaderList headers = {}) const;
    HttpResult put(const std::string& path, const nlohmann::json& body, uid_t uid = 0, HeaderList headers = {}) const;
    HttpResult del(const std::string& path, uid_t uid = 0, HeaderList headers = {}) const;
    // Raw body (malformed JSON, oversized bodies).
    HttpResult send_raw(const std::string& method, const std::string& path, std::string body, uid_t uid = 0,
                        HeaderList headers = {}) const;

private:
    std::filesystem::path dir_;
    std::filesystem::path config_;
    pid_t pid_ = -1;
    int wait_exit(int timeout_ms);  // -1 if still running after timeout
};

// Whole file as bytes ("" if unreadable).
std::string read_file(const std::filesystem::path& p);
// Runs a shell command, returns stdout; `status` receives the exit code.
std::string run_command(const std::string& cmd, int* status = nullptr);
// `s` as one single-quoted shell word (for run_command lines).
std::string shell_quote(const std::string& s);

}  // namespace portal::test
