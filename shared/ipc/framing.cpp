#include "shared/ipc/framing.h"

#include <cerrno>
#include <cstring>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace portal::ipc {

using nlohmann::json;

std::string encode_message(const json& message) {
    std::string s = message.dump(-1, ' ', false, json::error_handler_t::replace);
    s.push_back('\0');
    return s;
}

std::optional<json> parse_message(std::string_view text, std::string& error) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        error = "message is not valid JSON";
        return std::nullopt;
    }
    if (!j.is_object()) {
        error = "message is not a JSON object";
        return std::nullopt;
    }
    return j;
}

MessageBuffer::Status MessageBuffer::next(std::string& out) {
    const std::size_t avail = buf_.size() - start_;
    const char* base = buf_.data() + start_;
    const void* nul = scanned_ < avail ? std::memchr(base + scanned_, '\0', avail - scanned_) : nullptr;
    if (!nul) {
        scanned_ = avail;
        if (avail > max_) return Status::too_large;
        // Compact once the consumed prefix dominates, so a long-lived connection stays small.
        if (start_ > 0 && start_ >= buf_.size() / 2) {
            buf_.erase(0, start_);
            start_ = 0;
        }
        return Status::need_more;
    }
    const auto len = static_cast<std::size_t>(static_cast<const char*>(nul) - base);
    if (len > max_) return Status::too_large;
    out.assign(base, len);
    start_ += len + 1;
    scanned_ = 0;
    if (start_ == buf_.size()) {
        buf_.clear();
        start_ = 0;
    }
    return Status::message;
}

int Deadline::remaining_ms() const {
    const auto left = at_ - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms);
}

std::string_view to_string(IoStatus s) {
    switch (s) {
        case IoStatus::ok: return "ok";
        case IoStatus::timeout: return "timeout";
        case IoStatus::closed: return "closed";
        case IoStatus::too_large: return "too_large";
        case IoStatus::error: return "error";
    }
    return "unknown";
}

namespace {

// Waits for `events` on fd; ok, timeout or error.
IoResult wait_for(int fd, short events, const Deadline& deadline) {
    for (;;) {
        const int ms = deadline.remaining_ms();
        if (ms == 0) return {IoStatus::timeout, 0};
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, ms);
        if (n > 0) return {};  // readable/writable, or HUP/ERR: the next call reports it
        if (n == 0) continue;  // re-check the deadline (poll may wake a little early)
        if (errno == EINTR) continue;
        return {IoStatus::error, errno};
    }
}

}  // namespace

IoResult write_all(int fd, std::string_view data, const Deadline& deadline) {
    bool is_socket = true;
    while (!data.empty()) {
        ssize_t n = is_socket ? ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT) : -1;
        if (is_socket && n < 0 && errno == ENOTSOCK) is_socket = false;
        if (!is_socket) n = ::write(fd, data.data(), data.size());
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (auto r = wait_for(fd, POLLOUT, deadline); !r) return r;
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return {IoStatus::closed, errno};
        return {IoStatus::error, n < 0 ? errno : EIO};
    }
    return {};
}

IoResult read_message(int fd, MessageBuffer& buffer, std::string& out, const Deadline& deadline) {
    char chunk[16 * 1024];
    for (;;) {
        switch (buffer.next(out)) {
            case MessageBuffer::Status::message: return {};
            case MessageBuffer::Status::too_large: return {IoStatus::too_large, 0};
            case MessageBuffer::Status::need_more: break;
        }
        if (auto r = wait_for(fd, POLLIN, deadline); !r) return r;
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n > 0) {
            buffer.append(std::string_view(chunk, static_cast<std::size_t>(n)));
            continue;
        }
        if (n == 0) return {IoStatus::closed, 0};
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        if (errno == ECONNRESET) return {IoStatus::closed, errno};
        return {IoStatus::error, errno};
    }
}

}  // namespace portal::ipc
