// TwoFactorService on the embedded store (through tfa::TfaService).
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/two_factor_service.h"

namespace portal::iam::authority {

class TwoFactor final : public TwoFactorService {
public:
    explicit TwoFactor(Backend& b) : b_(b) {}
    TfaEnrolment enable(const Caller& c) override;
    std::vector<std::string> confirm(const Caller& c, const std::string& code) override;
    void disable(const Caller& c, const std::string& code) override;

private:
    Backend& b_;
};

}  // namespace portal::iam::authority
