// The daemon's side of the login socket (shared/ipc): bytes from a client split into
// NUL-terminated messages by MessageBuffer, each decoded and dispatched as the daemon does.
// The handler is a stub: what is fuzzed is the framing and parse_request, and every reply
// must be one framed JSON object the client can read.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <stdexcept>
#include <string_view>

#include "shared/ipc/framing.h"
#include "shared/ipc/login_protocol.h"
#include "shared/ipc/login_server.h"

namespace {

using namespace portal::ipc;

class StubHandler final : public LoginHandler {
public:
    GetAuthorizedKeysReply get_authorized_keys(const GetAuthorizedKeysRequest& r) override {
        check(r.user);
        return {true, {"ssh-ed25519 AAAA " + r.user}};
    }
    CheckAccountReply check_account(const CheckAccountRequest& r) override {
        check(r.user);
        return {true, false, "not_member", "no", false};
    }
    VerifyCodeReply verify_code(const VerifyCodeRequest& r) override {
        check(r.user);
        if (r.code == "000000") throw std::runtime_error("handler failure");  // -> Internal
        return {true, VerifyResult::wrong_code, 0};
    }
    SessionEventReply session_event(const SessionEventRequest& r) override {
        check(r.user);
        return {};
    }

private:
    static void check(const std::string& user) {
        if (user.find('\0') != std::string::npos) std::abort();
    }
};

void check_reply(const DispatchResult& d) {
    if (d.reply.empty() || d.reply.back() != '\0') std::abort();
    std::string error;
    auto msg = parse_message(std::string_view(d.reply).substr(0, d.reply.size() - 1), error);
    if (!msg || !(msg->contains("parameters") || msg->contains("error"))) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    // The first byte is how the bytes arrive: in reads of 1..256 bytes.
    const std::size_t chunk = std::size_t{data[0]} + 1;
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    StubHandler handler;
    // A small limit so that inputs reach it; the daemon's is kMaxRequestBytes.
    MessageBuffer buffer(std::min<std::size_t>(kMaxRequestBytes, 2048));
    std::string message;
    while (!rest.empty()) {
        const auto piece = rest.substr(0, chunk);
        rest.remove_prefix(piece.size());
        buffer.append(piece);
        for (;;) {
            const auto status = buffer.next(message);
            if (status == MessageBuffer::Status::need_more) break;
            if (status == MessageBuffer::Status::too_large) {
                check_reply(request_too_large());
                return 0;
            }
            if (message.find('\0') != std::string::npos) std::abort();
            const DispatchResult d = dispatch(message, handler);
            check_reply(d);
            // The daemon's path: the same answer, given exactly once (returned, or to `later`).
            int answers = 0;
            const auto now = dispatch_async(message, handler, [&](DispatchResult a) {
                ++answers;
                if (a.reply != d.reply || a.close != d.close) std::abort();
            });
            if (now && (now->reply != d.reply || now->close != d.close)) std::abort();
            if (answers + (now ? 1 : 0) != 1) std::abort();
            if (d.close) return 0;
        }
    }
    return 0;
}
