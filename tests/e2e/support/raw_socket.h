// Raw Unix-socket conversations for abuse tests: send arbitrary bytes (malformed, oversized,
// slow) and read what comes back, as root or as another uid (a forked child that drops
// privileges; the server sees it through SO_PEERCRED).
#pragma once
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace portal::e2e {

struct Exchange {
    bool connected = false;
    int connect_errno = 0;
    bool send_failed = false;  // the server closed before taking all of it (EPIPE/ECONNRESET)
    std::string reply;         // every byte received until EOF or the timeout
    bool closed_by_peer = false;  // EOF (or reset) seen before the timeout
    std::string describe() const;
    // The first NUL-terminated message of the reply (without the NUL).
    std::string first_message() const { return reply.substr(0, reply.find('\0')); }
};

// A JSON message as the login and Varlink sockets frame it: the text and a NUL.
std::string nul_framed(const nlohmann::json& message);
// The first message of a reply as JSON; null when it is not JSON.
nlohmann::json first_json(const Exchange& x);

struct Credentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
};

// Connects to `path`, sends `data`, reads until the peer closes, `wait_for_nuls` NUL bytes
// arrived, or `timeout` passed. With `as` set, runs in a child with those credentials.
Exchange converse(const std::filesystem::path& path, const std::string& data, int wait_for_nuls,
                  std::chrono::milliseconds timeout, const std::optional<Credentials>& as = std::nullopt);

// A connection held open by this process (for idle/slow-client tests).
class HeldConnection {
public:
    explicit HeldConnection(const std::filesystem::path& path);
    ~HeldConnection();
    HeldConnection(const HeldConnection&) = delete;
    HeldConnection& operator=(const HeldConnection&) = delete;
    bool connected() const { return fd_ >= 0; }
    bool send(const std::string& data);

private:
    int fd_ = -1;
};

}  // namespace portal::e2e
