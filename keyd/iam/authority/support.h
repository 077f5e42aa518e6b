// SupportService on the embedded store: grants, staff, and the support memberships that follow
// them (written in the same transaction as the grant or the staff change).
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/support_service.h"

namespace portal::iam::authority {

class Support final : public SupportService {
public:
    explicit Support(Backend& b) : b_(b) {}
    SupportAccess access(const Caller& c) override;
    SupportAccess set_access(const Caller& c, const SupportAccessChange& change) override;
    std::vector<SupportStaffMember> staff(const Principal& p) override;
    SupportStaffMember mark_staff(const Principal& p, const std::string& user_id) override;
    void unmark_staff(const Principal& p, const std::string& user_id) override;
    std::optional<std::chrono::system_clock::time_point> expire_due(std::chrono::system_clock::time_point now) override;

private:
    // Gives each of `staff` an active support membership in the account (a staff member who is
    // an owner or manager there keeps that membership as it is).
    void let_in(const std::string& account_id, const std::vector<std::string>& staff);
    // Deactivates the account's support memberships (all of them, or only `user_id`'s).
    void lock_out(const std::string& account_id, const std::optional<std::string>& user_id = std::nullopt);
    SupportAccess shown(const std::string& account_id, std::chrono::system_clock::time_point now);

    Backend& b_;
};

}  // namespace portal::iam::authority
