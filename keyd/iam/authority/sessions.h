// SessionService on the embedded store: passwords (Argon2id), session tokens (SHA-256 of the
// secret), and the sign-in throttle (per email and per client address, in memory).
#pragma once
#include <atomic>

#include "keyd/iam/authority/backend.h"
#include "keyd/iam/session_service.h"
#include "keyd/tfa/failure_limiter.h"

namespace portal::iam::authority {

class Sessions final : public SessionService {
public:
    explicit Sessions(Backend& b, SessionSettings settings = {});
    void set_settings(const SessionSettings& s);  // config reload

    CreatedSession sign_in(const Principal& p, const SignIn& s) override;
    void sign_out(const Principal& p) override;
    void set_password(const Principal& p, const PasswordChange& c) override;

private:
    void check_not_throttled(const std::string& email_key, const std::string& address);
    void record_failure(const std::string& email_key, const std::string& address);

    Backend& b_;
    std::atomic<std::int64_t> lifetime_seconds_;  // replaced by a reload on another thread
    FailureLimiter per_email_;
    FailureLimiter per_address_;
};

}  // namespace portal::iam::authority
