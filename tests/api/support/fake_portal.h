// Fault-injection stand-ins for the agent tests (no Debian package here provides netem or
// toxiproxy):
//  - FakePortal: a scripted portal for HTTP-level faults. Real TLS (its own key: the agent
//    pins it, or trusts its certificate as a CA file), the IAM feed's real paths and shapes;
//    each answer set by the test (500, 429 + Retry-After, malformed JSON, a state for another
//    account, a revision going backwards, 410, a body cut short), and every request counted so
//    that a test knows its fault was served.
//  - FaultProxy: a TCP proxy in front of a real authority (TLS passes through untouched):
//    pass, delay, stall, reset, blackhole, truncate; its upstream can be switched.
#pragma once
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace portal::test {

struct ScriptedAnswer {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    int hold_ms = 0;                          // wait this long before answering (a long-poll)
    std::size_t cut_body_at = std::string::npos;  // send only this many body bytes, then close
};

class FakePortal {
public:
    // Listens on 127.0.0.1:0 with a fresh key in a temp dir named after `name` (removed at the
    // end); `expired`: its certificate's validity ended yesterday (it is also its own CA: as a
    // CA file it then fails verification on the date).
    explicit FakePortal(const std::string& name, bool expired = false);
    ~FakePortal();
    FakePortal(const FakePortal&) = delete;
    FakePortal& operator=(const FakePortal&) = delete;

    int port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    const std::string& pin() const { return pin_; }
    std::filesystem::path ca_file() const { return cert_; }

    // The answer to requests whose path (without query) is `path`, from now on.
    void answer(const std::string& path, ScriptedAnswer a);
    // Requests seen whose path is `path`; the Authorization header of the last one.
    int requests(const std::string& path) const;
    std::string last_authorization() const;
    struct SeenRequest {
        std::string method;
        std::map<std::string, std::string> headers;  // names lower-case
        std::string body;
    };
    // The last request whose path is `path` (empty when none came).
    SeenRequest last_request(const std::string& path) const;

private:
    void serve();
    void handle(int fd);

    std::filesystem::path dir_, cert_, key_;
    std::string pin_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    mutable std::mutex mu_;
    std::map<std::string, ScriptedAnswer> answers_;
    std::map<std::string, int> counts_;
    std::string last_authorization_;
    std::map<std::string, SeenRequest> last_requests_;
    std::vector<std::thread> connections_;
    std::thread acceptor_;
    void* ctx_ = nullptr;  // SSL_CTX
};

class FaultProxy {
public:
    enum class Mode { pass, delay, stall, reset, blackhole, truncate };
    // Listens on 127.0.0.1:`port` (0: any) and forwards to 127.0.0.1:`upstream`.
    FaultProxy(int port, int upstream);
    ~FaultProxy();
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    int port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    // delay: each chunk waits `amount` ms; truncate: at most `amount` bytes come back from
    // upstream per connection, then both sides are reset. reset: open connections and new
    // ones are reset. stall: nothing moves any more on open connections nor on new ones
    // (which do reach upstream). blackhole: as stall, and new connections are accepted and
    // never read.
    void set_mode(Mode m, int amount = 0);
    void set_upstream(int upstream) { upstream_.store(upstream); }
    int connections() const { return accepted_.load(); }

private:
    void serve();
    void pump(int client);

    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<int> upstream_;
    std::atomic<Mode> mode_{Mode::pass};
    std::atomic<int> amount_{0};
    std::atomic<int> accepted_{0};
    std::atomic<unsigned> generation_{0};  // bumped by reset: older connections end
    std::atomic<bool> stopping_{false};
    std::mutex mu_;
    std::vector<std::thread> pumps_;
    std::thread acceptor_;
};

}  // namespace portal::test
