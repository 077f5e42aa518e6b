// Ends every session of a user whose access was revoked: logind's TerminateUser over the
// system bus (asynchronous sd-bus call driven by the daemon's io_context), or, when there is
// no bus or no logind on it (or the call fails), signals: SIGTERM to every process whose real
// or effective uid is the user's, SIGKILL after a grace period to whatever is left.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace portal::revoke {

struct TerminatorSettings {
    std::uint32_t uid_min = 200000;  // only uids in this range (and >= 1000) are ever touched
    std::uint32_t uid_max = 299999;
    std::chrono::milliseconds kill_grace{2000};  // SIGTERM -> SIGKILL
    std::filesystem::path proc = "/proc";
};

class SessionTerminator {
public:
    SessionTerminator(boost::asio::io_context& io, TerminatorSettings settings);
    ~SessionTerminator();
    SessionTerminator(const SessionTerminator&) = delete;
    SessionTerminator& operator=(const SessionTerminator&) = delete;

    // Returns at once; the work happens on the io_context. Refuses (logs) uids < 1000 or
    // outside the range.
    void terminate_user(std::uint32_t uid);

    // How a termination went, for tests and status: "logind", "signals", "refused".
    using Observer = std::function<void(std::uint32_t uid, const std::string& how)>;
    void set_observer(Observer o);

    struct Impl;  // implementation (session_terminator.cpp)

private:
    std::shared_ptr<Impl> impl_;
};

// pids of live (non-zombie) processes whose real or effective uid is `uid`.
std::vector<pid_t> processes_of_uid(const std::filesystem::path& proc, uid_t uid);

}  // namespace portal::revoke
