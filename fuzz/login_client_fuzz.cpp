// The client's side of the login socket (shared/ipc/login_client, as the keys helper and
// pam_portal.so use it): a server thread answers each request with the fuzzer's bytes, and
// the real LoginClient reads, frames and decodes them. Whatever the daemon sends, the client
// returns a result (never crashes, never hangs past its timeout), and "ok" only with a
// reply that decoded.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "fuzz/support/temp_dir.h"
#include "shared/ipc/framing.h"
#include "shared/ipc/login_client.h"
#include "shared/ipc/trust.h"
#include "shared/ipc/unique_fd.h"

namespace {

using namespace portal::ipc;

// Accepts one connection per call(), reads the request up to its NUL, sends `reply`, closes.
class ScriptedServer {
public:
    ScriptedServer() {
        // Not root: trust our own uid's socket, as the tests do (shared/ipc/trust.h).
        ::setenv(kTestAllowUidEnv, std::to_string(::getuid()).c_str(), 1);
        listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
        if (!listener_ || ::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listener_.get(), 4) != 0)
            std::abort();
        std::thread([this] { serve(); }).detach();  // lives as long as the process
    }
    const std::string& path() const { return path_; }
    void set_reply(std::string reply) {
        std::lock_guard lock(mutex_);
        reply_ = std::move(reply);
    }

private:
    void serve() {
        for (;;) {
            UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!conn) continue;
            char c;
            while (::read(conn.get(), &c, 1) == 1 && c != '\0') {
            }
            std::string reply;
            {
                std::lock_guard lock(mutex_);
                reply = reply_;
            }
            std::string_view rest = reply;
            while (!rest.empty()) {
                const ssize_t n = ::send(conn.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
                if (n <= 0) break;
                rest.remove_prefix(static_cast<std::size_t>(n));
            }
        }
    }

    portal::fuzz::TempDir dir_;
    std::string path_ = (dir_.path() / "login.sock").string();
    UniqueFd listener_;
    std::mutex mutex_;
    std::string reply_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static ScriptedServer server;
    if (size < 1) return 0;
    server.set_reply(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
    // The server closes after its reply, so a missing NUL ends the call at once; the
    // timeout only bounds a stuck one.
    const LoginClient client({server.path(), std::chrono::milliseconds(200)});
    auto expect = [](const auto& result) {
        if (result.ok() && !result.error.empty()) std::abort();
        if (!result.ok() && result.error.empty()) std::abort();  // callers log why
    };
    switch (data[0] % 4) {
        case 0: expect(client.get_authorized_keys("alice", std::string_view("SHA256:abc"))); break;
        case 1: expect(client.check_account("alice", "192.0.2.1", "sshd")); break;
        case 2: expect(client.verify_code("alice", "123456", "192.0.2.1", "sshd")); break;
        default: expect(client.session_event("alice", SessionEventKind::open, "192.0.2.1", "sshd", "pts/1")); break;
    }
    return 0;
}
