// TOTP enrolment and verification for the authority: secrets sealed at rest, a per-user
// high-water mark against replay, and failure rate limiting. Used by the API (enrol,
// confirm, disable) and by the login path (verify) alike, so both obey the same limits.
#pragma once
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "keyd/store/store.h"
#include "keyd/tfa/failure_limiter.h"
#include "keyd/tfa/secret_box.h"
#include "shared/model.h"
#include "shared/totp.h"

namespace portal::tfa {

struct Settings {
    std::string issuer = "portal-keyd";
    TotpParams params;  // SHA1, 6 digits, 30 s: what authenticator apps expect
    std::chrono::seconds enrolment_ttl{600};
    FailureLimiter::Policy limits;
};

struct Enrolment {
    std::string secret_base32, otpauth_uri, expires_at;
};

enum class Verdict { ok, wrong_code, locked, not_enrolled };

struct VerifyResult {
    Verdict verdict = Verdict::wrong_code;
    std::chrono::seconds retry_after{0};  // when locked
};

class TfaService {
public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    TfaService(store::Store& store, SecretBox box, Settings settings, Clock clock);

    void set_settings(const Settings& s);  // config reload

    // Starts (or restarts) enrolment: a new random secret, pending until confirmed.
    Enrolment begin(const User& user);
    // Confirms the pending secret with a code; returns the recovery codes (shown once).
    enum class ConfirmError { none, no_pending, expired, wrong_code, locked };
    ConfirmError confirm(const User& user, std::string_view code, std::vector<std::string>& recovery_codes,
                         std::chrono::seconds& retry_after);
    // Checks a TOTP code (or, when allow_recovery, a single-use recovery code) for an enrolled user.
    VerifyResult verify(const User& user, std::string_view code, bool allow_recovery);
    // Removes the enrolment entirely (disable after a verified code, or an owner's reset).
    void clear(const std::string& user_id);

private:
    store::Store& store_;
    SecretBox box_;
    Settings settings_;
    Clock clock_;
    FailureLimiter limiter_;
    // Only the settings need a lock of their own: the API and the login thread both verify
    // codes, and a reload replaces the settings. Each operation's read-check-write of a
    // user's record is one store transaction (serialized by the store), and the limiter
    // locks itself. (No lock around whole operations: the API calls some of them inside a
    // store transaction, and a second lock taken in the other order would deadlock.)
    mutable std::mutex settings_mu_;

    Settings current_settings() const;
    std::int64_t now_seconds() const;
};

}  // namespace portal::tfa
