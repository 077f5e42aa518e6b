#include "shared/ipc/login_server.h"

#include <exception>

#include "shared/ipc/framing.h"

namespace portal::ipc {

namespace {

DispatchResult bad(std::string_view error_name, std::string_view message) {
    DispatchResult r;
    r.reply = encode_message(error_message(error_name, message));
    r.close = true;
    r.log = std::string(error_name) + ": " + std::string(message.substr(0, 200));
    return r;
}

template <class... Ts>
struct overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

}  // namespace

namespace {

// A parsed request, answered at once.
DispatchResult answer(const Request& request, LoginHandler& handler) {
    try {
        DispatchResult r;
        r.reply = std::visit(
            overloaded{
                [&](const GetAuthorizedKeysRequest& q) { return encode_message(reply_message(handler.get_authorized_keys(q))); },
                [&](const CheckAccountRequest& q) { return encode_message(reply_message(handler.check_account(q))); },
                [&](const VerifyCodeRequest& q) { return encode_message(reply_message(handler.verify_code(q))); },
                [&](const SessionEventRequest& q) { return encode_message(reply_message(handler.session_event(q))); },
            },
            request);
        return r;
    } catch (const std::exception& e) {
        DispatchResult r = bad(error::internal, "internal error");
        r.log = std::string("handler failed: ") + e.what();
        return r;
    } catch (...) {
        return bad(error::internal, "internal error");
    }
}

}  // namespace

DispatchResult dispatch(std::string_view message, LoginHandler& handler) {
    std::string error;
    auto json = parse_message(message, error);
    if (!json) return bad(error::bad_request, error);
    std::string error_name;
    auto request = parse_request(*json, error_name, error);
    if (!request) return bad(error_name, error);
    return answer(*request, handler);
}

std::optional<DispatchResult> dispatch_async(std::string_view message, LoginHandler& handler,
                                             std::function<void(DispatchResult)> later) {
    std::string error;
    auto json = parse_message(message, error);
    if (!json) return bad(error::bad_request, error);
    std::string error_name;
    auto request = parse_request(*json, error_name, error);
    if (!request) return bad(error_name, error);
    const auto* verify = std::get_if<VerifyCodeRequest>(&*request);
    if (!verify) return answer(*request, handler);
    try {
        handler.verify_code_async(*verify, [later](VerifyCodeReply reply) {
            DispatchResult r;
            r.reply = encode_message(reply_message(reply));
            later(std::move(r));
        });
    } catch (const std::exception& e) {
        DispatchResult r = bad(error::internal, "internal error");
        r.log = std::string("handler failed: ") + e.what();
        later(std::move(r));
    }
    return std::nullopt;
}

DispatchResult request_too_large() {
    return bad(error::bad_request, "request larger than " + std::to_string(kMaxRequestBytes) + " bytes");
}

void serve_connection(int fd, LoginHandler& handler, std::chrono::milliseconds idle_timeout) {
    MessageBuffer buffer(kMaxRequestBytes);
    std::string message;
    for (;;) {
        const IoResult r = read_message(fd, buffer, message, Deadline::after(idle_timeout));
        DispatchResult result;
        if (r.status == IoStatus::too_large) result = request_too_large();
        else if (!r) return;
        else result = dispatch(message, handler);
        // A client that stopped reading must not hold this thread: bound the write too.
        if (!write_all(fd, result.reply, Deadline::after(idle_timeout)) || result.close) return;
    }
}

std::optional<ucred> peer_credentials(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
    return cred;
}

}  // namespace portal::ipc
