#include "keyd/tfa/tfa_service.h"

#include <openssl/crypto.h>

#include <ctime>

#include "keyd/store/timestamp.h"
#include "keyd/tfa/recovery_codes.h"
#include "shared/base32.h"

namespace portal::tfa {
namespace {

void wipe(std::vector<std::uint8_t>& v) { OPENSSL_cleanse(v.data(), v.size()); }

// Binds each sealed secret to its user and purpose.
std::string context(const std::string& user_id) { return "totp:" + user_id; }

}  // namespace

TfaService::TfaService(store::Store& store, SecretBox box, Settings settings, Clock clock)
    : store_(store), box_(std::move(box)), settings_(std::move(settings)), clock_(clock),
      limiter_(settings_.limits, clock) {
    validate(settings_.params);
    // Failures and locks outlive a restart: restore what the store kept, keep it up to date.
    using Ms = std::chrono::milliseconds;
    auto to_time = [](std::int64_t ms) { return FailureLimiter::TimePoint(std::chrono::duration_cast<FailureLimiter::TimePoint::duration>(Ms(ms))); };
    for (const auto& [user_id, st] : store_.tfa().failure_states()) {
        FailureLimiter::Snapshot snap;
        for (std::int64_t ms : st.failures_ms) snap.failures.push_back(to_time(ms));
        if (st.locked_until_ms) snap.locked_until = to_time(*st.locked_until_ms);
        limiter_.restore(user_id, std::move(snap));
    }
    limiter_.set_persist([this](const std::string& user_id, const FailureLimiter::Snapshot& snap) {
        auto to_ms = [](FailureLimiter::TimePoint t) { return std::chrono::duration_cast<Ms>(t.time_since_epoch()).count(); };
        store::TfaFailureState st;
        for (auto t : snap.failures) st.failures_ms.push_back(to_ms(t));
        if (snap.locked_until) st.locked_until_ms = to_ms(*snap.locked_until);
        store_.tfa().put_failure_state(user_id, st);
    });
}

void TfaService::set_settings(const Settings& s) {
    validate(s.params);
    {
        std::lock_guard lock(settings_mu_);
        settings_ = s;
    }
    limiter_.set_policy(s.limits);
}

Settings TfaService::current_settings() const {
    std::lock_guard lock(settings_mu_);
    return settings_;
}

std::int64_t TfaService::now_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_().time_since_epoch()).count();
}

Enrolment TfaService::begin(const User& user) {
    auto secret = totp_random_secret(20);  // 160 bits, RFC 4226's recommendation
    Enrolment e;
    e.secret_base32 = base32_encode(secret);
    const Settings settings = current_settings();
    e.otpauth_uri = otpauth_uri(settings.issuer, user.email, secret, settings.params);
    e.expires_at = store::format_rfc3339(static_cast<std::time_t>(now_seconds() + settings.enrolment_ttl.count()));
    store_.transaction([&] {
        auto rec = store_.tfa().get(user.id);
        rec.pending_ciphertext = box_.seal(secret, context(user.id));
        rec.pending_expires_at = e.expires_at;
        store_.tfa().put(user.id, rec);
    });
    wipe(secret);
    return e;
}

TfaService::ConfirmError TfaService::confirm(const User& user, std::string_view code,
                                             std::vector<std::string>& recovery_codes,
                                             std::chrono::seconds& retry_after) {
    if (auto locked = limiter_.locked_for(user.id)) {
        retry_after = *locked;
        return ConfirmError::locked;
    }
    ConfirmError result = ConfirmError::none;
    store_.transaction([&] {
        auto rec = store_.tfa().get(user.id);
        if (rec.pending_ciphertext.empty()) {
            result = ConfirmError::no_pending;
            return;
        }
        if (store::parse_rfc3339(rec.pending_expires_at).value_or(0) < now_seconds()) {  // unreadable: expired
            result = ConfirmError::expired;
            return;
        }
        auto secret = box_.open(rec.pending_ciphertext, context(user.id));
        if (!secret) throw std::runtime_error("pending TOTP secret cannot be decrypted (wrong key file?)");
        auto check = totp_verify(*secret, code, now_seconds(), -1, current_settings().params);
        wipe(*secret);
        if (!check.ok) {
            result = ConfirmError::wrong_code;
            return;
        }
        recovery_codes = generate_recovery_codes(10);
        rec.enabled = true;
        rec.secret_ciphertext = rec.pending_ciphertext;
        rec.pending_ciphertext.clear();
        rec.pending_expires_at.clear();
        rec.last_accepted_step = check.step;
        rec.recovery_code_hashes.clear();
        for (const auto& rc : recovery_codes) rec.recovery_code_hashes.push_back(hash_recovery_code(rc));
        store_.tfa().put(user.id, rec);
    });
    if (result == ConfirmError::wrong_code) limiter_.record_failure(user.id);
    if (result == ConfirmError::none) limiter_.record_success(user.id);
    return result;
}

VerifyResult TfaService::verify(const User& user, std::string_view code, bool allow_recovery) {
    if (auto locked = limiter_.locked_for(user.id)) return {Verdict::locked, *locked};
    Verdict verdict = Verdict::wrong_code;
    store_.transaction([&] {
        auto rec = store_.tfa().get(user.id);
        if (!rec.enabled || rec.secret_ciphertext.empty()) {
            verdict = Verdict::not_enrolled;
            return;
        }
        auto secret = box_.open(rec.secret_ciphertext, context(user.id));
        if (!secret) throw std::runtime_error("TOTP secret cannot be decrypted (wrong key file?)");
        auto check = totp_verify(*secret, code, now_seconds(), rec.last_accepted_step, current_settings().params);
        wipe(*secret);
        if (check.ok) {
            rec.last_accepted_step = check.step;  // high-water mark: this code and older ones are spent
            store_.tfa().put(user.id, rec);
            verdict = Verdict::ok;
            return;
        }
        if (!allow_recovery) return;
        for (auto it = rec.recovery_code_hashes.begin(); it != rec.recovery_code_hashes.end(); ++it) {
            if (verify_recovery_code(code, *it)) {
                rec.recovery_code_hashes.erase(it);  // single use
                store_.tfa().put(user.id, rec);
                verdict = Verdict::ok;
                return;
            }
        }
    });
    if (verdict == Verdict::wrong_code) {
        limiter_.record_failure(user.id);
        if (auto locked = limiter_.locked_for(user.id)) return {Verdict::wrong_code, *locked};
    }
    if (verdict == Verdict::ok) limiter_.record_success(user.id);
    return {verdict, std::chrono::seconds(0)};
}

void TfaService::clear(const std::string& user_id) {
    store_.transaction([&] { store_.tfa().put(user_id, store::TfaRecord{}); });
    limiter_.record_success(user_id);
}

}  // namespace portal::tfa
