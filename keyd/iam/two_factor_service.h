// The caller's own second factor (TOTP): enrol, confirm the enrolment, disable.
#pragma once
#include <string>
#include <vector>

#include "keyd/iam/caller.h"

namespace portal::iam {

struct TfaEnrolment {
    std::string secret_base32;  // shown once, here
    std::string otpauth_uri;
    std::string expires_at;
};

class TwoFactorService {
public:
    virtual ~TwoFactorService() = default;

    virtual TfaEnrolment enable(const Caller& c) = 0;
    // The recovery codes, shown once.
    virtual std::vector<std::string> confirm(const Caller& c, const std::string& code) = 0;
    virtual void disable(const Caller& c, const std::string& code) = 0;
};

}  // namespace portal::iam
