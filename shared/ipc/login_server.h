// Server side of the login socket, shared by the daemon and the tests' fake server:
// decode a message, call the handler, encode the reply (docs/LOGIN_PROTOCOL.md). The daemon
// implements LoginHandler; it can drive dispatch() from its own event loop (with a
// MessageBuffer of kMaxRequestBytes per connection) or run serve_connection() per thread.
#pragma once
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <sys/socket.h>

#include "shared/ipc/login_protocol.h"

namespace portal::ipc {

class LoginHandler {
public:
    virtual ~LoginHandler() = default;
    virtual GetAuthorizedKeysReply get_authorized_keys(const GetAuthorizedKeysRequest& request) = 0;
    virtual CheckAccountReply check_account(const CheckAccountRequest& request) = 0;
    virtual VerifyCodeReply verify_code(const VerifyCodeRequest& request) = 0;
    virtual SessionEventReply session_event(const SessionEventRequest& request) = 0;
    // A code checked elsewhere (an agent asks its portal): `done` is called exactly once, on
    // any thread, and the server that asked must not wait meanwhile. Default: verify_code()
    // at once.
    virtual void verify_code_async(const VerifyCodeRequest& request, std::function<void(VerifyCodeReply)> done) {
        done(verify_code(request));
    }
};

struct DispatchResult {
    std::string reply;  // encoded, NUL included
    bool close = false; // the request was bad: send the reply, then close the connection
    std::string log;    // for the server's log when not empty (bounded, no secrets)
};

// One complete request (without its NUL). A handler exception becomes an Internal error.
DispatchResult dispatch(std::string_view message, LoginHandler& handler);
// The same for a server that must not wait: the result, or for VerifyCode (answered through
// LoginHandler::verify_code_async, maybe by another server) nullopt, and then `later` gets it
// exactly once, on any thread, perhaps before this returns. `later` is not called otherwise.
std::optional<DispatchResult> dispatch_async(std::string_view message, LoginHandler& handler,
                                             std::function<void(DispatchResult)> later);

// The reply to a request over kMaxRequestBytes (then close).
DispatchResult request_too_large();

// Serves requests on a connected socket until the peer closes, an error, a bad request, or
// `idle_timeout` passes with no complete request. Blocking; one connection per call.
void serve_connection(int fd, LoginHandler& handler, std::chrono::milliseconds idle_timeout);

// The peer's credentials (SO_PEERCRED), for the daemon's accept-time check.
std::optional<ucred> peer_credentials(int fd);

}  // namespace portal::ipc
