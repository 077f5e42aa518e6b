#include "keyd/iam/authority/two_factor.h"

#include <chrono>

#include "keyd/iam/errors.h"

namespace portal::iam::authority {

TfaEnrolment TwoFactor::enable(const Caller& c) {
    authorize({c.principal, &c}, Operation::enrol_tfa);
    const User& u = *c.principal.user;
    if (b_.store.tfa().get(u.id).enabled)
        throw ApiError{409, "MUST_BE_UNIQUE", "2FA is already enabled: disable it first to enrol a new device"};
    auto e = b_.tfa.begin(u);
    return {e.secret_base32, e.otpauth_uri, e.expires_at};
}

std::vector<std::string> TwoFactor::confirm(const Caller& c, const std::string& code) {
    authorize({c.principal, &c}, Operation::enrol_tfa);
    const User& u = *c.principal.user;
    std::vector<std::string> codes;
    std::chrono::seconds retry{0};
    switch (b_.tfa.confirm(u, code, codes, retry)) {
        case tfa::TfaService::ConfirmError::none: break;
        case tfa::TfaService::ConfirmError::no_pending:
            throw ApiError{412, "PRECONDITION_FAILED", "no 2FA enrolment in progress: call tfa/enable first"};
        case tfa::TfaService::ConfirmError::expired:
            throw ApiError{412, "PRECONDITION_FAILED", "the 2FA enrolment expired: call tfa/enable again"};
        case tfa::TfaService::ConfirmError::wrong_code: throw ApiError::unprocessable("code", "invalid verification code");
        case tfa::TfaService::ConfirmError::locked:
            throw ApiError::too_many("too many failed verification codes; try again later", retry.count());
    }
    b_.changed();
    return codes;
}

void TwoFactor::disable(const Caller& c, const std::string& code) {
    authorize({c.principal, &c}, Operation::disable_tfa);
    const User& u = *c.principal.user;
    auto r = b_.tfa.verify(u, code, /*allow_recovery=*/true);
    switch (r.verdict) {
        case tfa::Verdict::ok: break;
        case tfa::Verdict::not_enrolled: throw ApiError{412, "PRECONDITION_FAILED", "2FA is not enabled"};
        case tfa::Verdict::locked:
            throw ApiError::too_many("too many failed verification codes; try again later", r.retry_after.count());
        case tfa::Verdict::wrong_code: throw ApiError::unprocessable("code", "invalid verification code");
    }
    b_.write([&] { b_.tfa.clear(u.id); });
}

}  // namespace portal::iam::authority
