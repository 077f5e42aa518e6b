#include "keyd/iam/authority/sessions.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "keyd/iam/authority/ip_allowlist.h"
#include "keyd/iam/authority/password_hash.h"
#include "keyd/iam/authority/tokens.h"
#include "keyd/iam/errors.h"
#include "keyd/store/timestamp.h"
#include "shared/random.h"

namespace portal::iam::authority {
namespace {

constexpr std::size_t kMinPasswordChars = 10;

FailureLimiter::Policy email_policy(const SessionSettings& s) {
    return {s.max_failures_per_email, s.failure_window, s.lockout};
}
FailureLimiter::Policy address_policy(const SessionSettings& s) {
    return {s.max_failures_per_address, s.failure_window, s.lockout};
}

std::string lowercase(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// UTF-8 code points (the body parser has checked the encoding).
std::size_t characters(std::string_view s) {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

ApiError wrong_credentials() { return {401, "UNAUTHORIZED", "wrong email, password or 2FA code"}; }

}  // namespace

Sessions::Sessions(Backend& b, SessionSettings settings)
    : b_(b),
      lifetime_seconds_(settings.lifetime.count()),
      per_email_(email_policy(settings), [] { return std::chrono::system_clock::now(); }),
      per_address_(address_policy(settings), [] { return std::chrono::system_clock::now(); }) {}

void Sessions::set_settings(const SessionSettings& s) {
    lifetime_seconds_ = s.lifetime.count();
    per_email_.set_policy(email_policy(s));
    per_address_.set_policy(address_policy(s));
}

void Sessions::check_not_throttled(const std::string& email_key, const std::string& address) {
    // The same answer for both: which budget ran out would tell whether the email is being
    // attacked from elsewhere.
    auto wait = per_address_.locked_for(address);
    if (!wait) wait = per_email_.locked_for(email_key);
    if (wait) throw ApiError::too_many("too many failed sign-ins: try again later", static_cast<long>(wait->count()));
}

void Sessions::record_failure(const std::string& email_key, const std::string& address) {
    per_address_.record_failure(address);
    per_email_.record_failure(email_key);
}

CreatedSession Sessions::sign_in(const Principal& p, const SignIn& s) {
    authorize({p}, Operation::sign_in);
    if (p.kind != Principal::Kind::anonymous)
        throw ApiError::bad_request("sessions are made over HTTPS (the local socket knows its caller by uid)");
    const std::string email_key = lowercase(s.email);
    check_not_throttled(email_key, s.remote_address);

    // Every path costs one Argon2id verification, whether the email is known or not.
    auto user = b_.store.users().by_email(s.email);
    const auto hash = user ? b_.store.sessions().password_hash(user->id) : std::nullopt;
    if (hash ? !verify_password(*hash, s.password) : (verify_nothing(s.password), true)) {
        record_failure(email_key, s.remote_address);
        throw wrong_credentials();
    }
    if (user->tfa_enabled) {
        if (!s.tfa_code || s.tfa_code->empty())
            throw ApiError{401, "TFA_REQUIRED", "this user has two-factor authentication: send tfa_code"};
        const tfa::VerifyResult v = b_.tfa.verify(*user, *s.tfa_code, /*allow_recovery=*/true);
        if (v.verdict == tfa::Verdict::locked)
            throw ApiError::too_many("too many wrong 2FA codes: try again later", static_cast<long>(v.retry_after.count()));
        if (v.verdict != tfa::Verdict::ok) {
            per_address_.record_failure(s.remote_address);  // the 2FA service counts per user
            throw wrong_credentials();
        }
    }
    per_email_.record_success(email_key);

    bool active = false, admitted = false;
    for (const auto& ar : b_.store.accounts().of_user(user->id)) {
        if (ar.status != MemberStatus::active) continue;
        active = true;
        admitted = admitted || allowlist_admits(b_.store.ip_allowlist().of_account(ar.account.id), s.remote_address);
    }
    if (!active) throw ApiError::forbidden("you have no active membership in any account (deactivated or only invited)");
    if (!admitted)
        throw ApiError::forbidden("sign-in from " + s.remote_address +
                                  " is not allowed: no account of yours lists it in its IP allowlist");

    CreatedSession out;
    out.id = random_id("ses_");
    out.token = new_credential(kSessionTokenPrefix);
    store::SessionRecord rec;
    rec.id = out.id;
    rec.user_id = user->id;
    rec.ip = s.remote_address;
    const std::time_t now = std::time(nullptr);
    rec.created_at = store::format_rfc3339(now);
    rec.expires_at = store::format_rfc3339(now + static_cast<std::time_t>(lifetime_seconds_.load()));
    out.expires_at = rec.expires_at;
    b_.write_quietly([&] { b_.store.sessions().insert(rec, credential_hash(out.token)); });
    return out;
}

void Sessions::sign_out(const Principal& p) {
    authorize({p}, Operation::sign_out);
    if (p.credential != Credential::session)
        throw ApiError::not_found("no current session: this request was not made with a session token");
    b_.write_quietly([&] { b_.store.sessions().remove(p.credential_id); });
}

void Sessions::set_password(const Principal& p, const PasswordChange& c) {
    authorize({p}, Operation::set_password);
    if (characters(c.password) < kMinPasswordChars)
        throw ApiError::unprocessable("password", "must be at least " + std::to_string(kMinPasswordChars) + " characters");
    const std::string& user_id = p.user_id();
    // Over HTTPS a credential in the wrong hands must not be able to take the account over:
    // the current password first. The socket's caller is proven by the kernel (a forgotten
    // password is reset there).
    if (p.credential != Credential::local_peer) {
        if (auto current = b_.store.sessions().password_hash(user_id)) {
            const std::string email_key = lowercase(p.user->email);
            check_not_throttled(email_key, p.remote_address);
            if (!c.current_password || !verify_password(*current, *c.current_password)) {
                record_failure(email_key, p.remote_address);
                throw ApiError::unprocessable("current_password", c.current_password ? "is wrong" : "is required");
            }
        }
    }
    const std::string hash = hash_password(c.password);
    b_.write_quietly([&] {
        b_.store.sessions().set_password_hash(user_id, hash, store::now_rfc3339());
        // Other sessions end: a password change is how a user throws out whoever else got in.
        b_.store.sessions().remove_of_user(user_id, p.credential == Credential::session ? p.credential_id : "");
    });
}

}  // namespace portal::iam::authority
