// The login socket's methods as typed C++ (docs/LOGIN_PROTOCOL.md, "Methods"): one place
// that encodes and decodes each request and reply, used by the client (login_client.h) and
// the daemon's server (login_server.h).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "shared/ipc/login_rules.h"

namespace portal::ipc {

inline constexpr const char* kDefaultLoginSocket = "/run/portal-keyd/login.sock";
inline constexpr const char* kDefaultStateDir = "/run/portal-keyd/login-state";

namespace method {
inline constexpr std::string_view get_authorized_keys = "io.portal.Login.GetAuthorizedKeys";
inline constexpr std::string_view check_account = "io.portal.Login.CheckAccount";
inline constexpr std::string_view verify_code = "io.portal.Login.VerifyCode";
inline constexpr std::string_view session_event = "io.portal.Login.SessionEvent";
}  // namespace method

namespace error {
inline constexpr std::string_view bad_request = "io.portal.Login.BadRequest";
inline constexpr std::string_view method_not_found = "io.portal.Login.MethodNotFound";
inline constexpr std::string_view internal = "io.portal.Login.Internal";
}  // namespace error

// --- requests (rhost, service, tty may be empty: a local login has no PAM_RHOST) ---
struct GetAuthorizedKeysRequest {
    std::string user;
    std::optional<std::string> fingerprint;  // "SHA256:..." (sshd's %f)
};
struct CheckAccountRequest {
    std::string user, rhost, service;
};
struct VerifyCodeRequest {
    std::string user, code, rhost, service;
};
enum class SessionEventKind { open, close };
struct SessionEventRequest {
    std::string user;
    SessionEventKind event = SessionEventKind::open;
    std::string rhost, service, tty;
};
using Request = std::variant<GetAuthorizedKeysRequest, CheckAccountRequest, VerifyCodeRequest, SessionEventRequest>;

// --- replies ---
struct GetAuthorizedKeysReply {
    bool portal_user = false;
    std::vector<std::string> keys;  // "type base64 comment" lines
    // The member's uid (portal users only): the helper prints keys only when it equals the
    // uid sshd resolved for the name (%U).
    std::optional<std::uint32_t> uid;
};
using CheckAccountReply = LoginDecision;
// unavailable: the code could not be checked now (an agent whose portal does not answer).
enum class VerifyResult { ok, wrong_code, locked, not_enrolled, unavailable };
struct VerifyCodeReply {
    bool portal_user = false;
    VerifyResult result = VerifyResult::wrong_code;
    std::int64_t retry_after = 0;  // seconds, when locked
};
struct SessionEventReply {};

std::string_view to_string(VerifyResult r);
std::string_view to_string(SessionEventKind e);

// {"method": ..., "parameters": {...}}
nlohmann::json request_message(const Request& request);

// Server side: decodes a request message. On failure returns nullopt with `error_name` one of
// portal::ipc::error and `message` naming the field.
std::optional<Request> parse_request(const nlohmann::json& request, std::string& error_name,
                                     std::string& message);

// {"parameters": {...}} and {"error": ..., "parameters": {"message": ...}}
nlohmann::json reply_message(const GetAuthorizedKeysReply& reply);
nlohmann::json reply_message(const CheckAccountReply& reply);
nlohmann::json reply_message(const VerifyCodeReply& reply);
nlohmann::json reply_message(const SessionEventReply& reply);
nlohmann::json error_message(std::string_view error_name, std::string_view message);

// Client side: decodes the "parameters" of a successful reply (type-checked; fields this
// version does not know are ignored, so a newer daemon can add some). `uid` is required
// when `portal_user` is true (a reply without it is refused: the caller falls back to the
// state file, which has it).
std::optional<GetAuthorizedKeysReply> parse_get_authorized_keys_reply(const nlohmann::json& params, std::string& error);
std::optional<CheckAccountReply> parse_check_account_reply(const nlohmann::json& params, std::string& error);
std::optional<VerifyCodeReply> parse_verify_code_reply(const nlohmann::json& params, std::string& error);

// The keys sshd may accept for `user` (only the one matching `fingerprint` when given): none
// unless check_account allows the user. Used by the daemon and by the helper's fallback.
GetAuthorizedKeysReply authorized_keys_for(const LoginState& state, std::string_view user,
                                           const std::optional<std::string>& fingerprint,
                                           const LoginPolicy& policy, const StateSource& source = {});

}  // namespace portal::ipc
