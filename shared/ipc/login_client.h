// Client of the login socket for the keys helper and pam_portal.so (docs/LOGIN_PROTOCOL.md).
// Every call is bounded: connect + request + reply within `timeout`, and a result says
// whether the daemon answered, so callers can fall back to the state file when it did not.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "shared/ipc/login_protocol.h"

namespace portal::ipc {

struct ClientOptions {
    std::string socket_path = kDefaultLoginSocket;
    std::chrono::milliseconds timeout{2000};
};

enum class CallStatus {
    ok,           // the daemon answered; `value` holds the reply
    unavailable,  // no usable answer: socket missing or untrusted, refused, timeout, bad reply
    failed,       // the daemon answered with an error (`error` is its name and message)
};

template <class T>
struct CallResult {
    CallStatus status = CallStatus::unavailable;
    T value{};
    std::string error;  // why, for logs (never contains request secrets)
    bool ok() const { return status == CallStatus::ok; }
};

class LoginClient {
public:
    explicit LoginClient(ClientOptions options = {}) : options_(std::move(options)) {}

    CallResult<GetAuthorizedKeysReply> get_authorized_keys(std::string_view user,
                                                           std::optional<std::string_view> fingerprint = {}) const;
    CallResult<CheckAccountReply> check_account(std::string_view user, std::string_view rhost,
                                                std::string_view service) const;
    // The encoded request holding the code is wiped after sending (best effort).
    CallResult<VerifyCodeReply> verify_code(std::string_view user, std::string_view code, std::string_view rhost,
                                            std::string_view service) const;
    CallResult<SessionEventReply> session_event(std::string_view user, SessionEventKind event,
                                                std::string_view rhost, std::string_view service,
                                                std::string_view tty) const;

    // One request/reply on a fresh connection: the reply's "parameters" in `params`.
    // Exposed for tests; the typed calls above are the interface.
    CallStatus call(std::string& request_bytes, nlohmann::json& params, std::string& error) const;

private:
    ClientOptions options_;
};

}  // namespace portal::ipc
