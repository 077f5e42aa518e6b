// Portal sign-in (PORTAL.md §5): session tokens made from an email, a password and, for
// users with 2FA, a TOTP code; and the password itself, set by its user.
#pragma once
#include <chrono>
#include <optional>
#include <string>

#include "keyd/iam/caller.h"

namespace portal::iam {

struct SignIn {
    std::string email;
    std::string password;
    std::optional<std::string> tfa_code;
    std::string remote_address;  // where the request came from (the allowlist's question)
};

struct CreatedSession {
    std::string id;
    std::string token;  // "pk_ses_...": shown once, never stored
    std::string expires_at;
};

struct PasswordChange {
    std::optional<std::string> current_password;  // required over HTTPS once one is set
    std::string password;
};

// How sign-in behaves (config [api]: session_lifetime; the throttle's numbers).
struct SessionSettings {
    std::chrono::seconds lifetime{12 * 3600};
    int max_failures_per_email = 5;       // wrong passwords or codes, per window
    int max_failures_per_address = 20;
    std::chrono::seconds failure_window{900};
    std::chrono::seconds lockout{900};
};

class SessionService {
public:
    virtual ~SessionService() = default;

    // 401 for a wrong email/password (one message: which one is nobody's business), 401
    // TFA_REQUIRED without a code for a 2FA user, 429 while throttled, 403 when no account
    // the user is active in admits the address (IP allowlist).
    virtual CreatedSession sign_in(const Principal& p, const SignIn& s) = 0;
    // Ends the session the request was made with (404 when it was made with another credential).
    virtual void sign_out(const Principal& p) = 0;
    // Sets the caller's password; ends their other sessions.
    virtual void set_password(const Principal& p, const PasswordChange& c) = 0;
};

}  // namespace portal::iam
