// InvitationService on the embedded store.
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/invitation_service.h"

namespace portal::iam::authority {

class Invitations final : public InvitationService {
public:
    explicit Invitations(Backend& b) : b_(b) {}
    std::vector<Invitation> list(const Principal& p) override;
    std::pair<Account, Role> accept(const Principal& p, const std::string& account_id) override;
    void decline(const Principal& p, const std::string& account_id) override;

private:
    Membership invitation_or_404(const Principal& p, const std::string& account_id);

    Backend& b_;
};

}  // namespace portal::iam::authority
