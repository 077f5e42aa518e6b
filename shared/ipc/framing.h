// Varlink-style framing for the login socket (docs/LOGIN_PROTOCOL.md, "Framing"): each
// message is one JSON object followed by a NUL byte. Shared by the client (helper, PAM
// module) and the daemon's server: MessageBuffer and encode_message/parse_message carry no
// I/O, so an event loop can use them; read_message/write_all are the blocking-with-deadline
// variants for simple clients and tests.
#pragma once
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace portal::ipc {

inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;        // without the NUL
inline constexpr std::size_t kMaxReplyBytes = 4 * 1024 * 1024;    // without the NUL

// One JSON text + NUL. Never throws on invalid UTF-8 (replaced).
std::string encode_message(const nlohmann::json& message);

// Parses one message (without its NUL). Refuses anything but a JSON object.
std::optional<nlohmann::json> parse_message(std::string_view text, std::string& error);

// Accumulates bytes from a stream and yields complete messages.
class MessageBuffer {
public:
    enum class Status { message, need_more, too_large };

    explicit MessageBuffer(std::size_t max_message_bytes) : max_(max_message_bytes) {}

    void append(std::string_view bytes) { buf_.append(bytes); }
    // The next complete message (without its NUL) in `out`; too_large once an unterminated
    // or complete message exceeds the limit (the connection should then be closed).
    Status next(std::string& out);
    // Bytes received but not yet returned as a message (e.g. a truncated last message).
    std::size_t pending() const { return buf_.size() - start_; }

private:
    std::string buf_;
    std::size_t start_ = 0;   // start of the first unconsumed message
    std::size_t scanned_ = 0; // bytes after start_ known to contain no NUL
    std::size_t max_;
};

// A point in time on the monotonic clock after which I/O gives up.
class Deadline {
public:
    using Clock = std::chrono::steady_clock;
    explicit Deadline(Clock::time_point at) : at_(at) {}
    static Deadline after(std::chrono::milliseconds d) { return Deadline(Clock::now() + d); }
    // Milliseconds left, rounded up, for poll(); 0 once expired.
    int remaining_ms() const;
    bool expired() const { return Clock::now() >= at_; }

private:
    Clock::time_point at_;
};

enum class IoStatus {
    ok,
    timeout,    // deadline passed
    closed,     // peer closed (EOF before a complete message, or EPIPE/ECONNRESET on write)
    too_large,  // message over the limit
    error,      // other errno (see IoResult::err)
};
struct IoResult {
    IoStatus status = IoStatus::ok;
    int err = 0;
    explicit operator bool() const { return status == IoStatus::ok; }
};
std::string_view to_string(IoStatus s);

// Writes everything before the deadline. Uses send(MSG_NOSIGNAL) on sockets (no SIGPIPE),
// write() otherwise; retries EINTR; polls on EAGAIN (works on blocking and non-blocking fds).
IoResult write_all(int fd, std::string_view data, const Deadline& deadline);

// Reads until `buffer` yields one complete message (returned in `out`) or the deadline.
// Bytes after that message stay in `buffer` for the next call.
IoResult read_message(int fd, MessageBuffer& buffer, std::string& out, const Deadline& deadline);

}  // namespace portal::ipc
