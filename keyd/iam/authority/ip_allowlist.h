// AllowlistService on the embedded store, and the one test of an address against a list.
#pragma once
#include <string_view>

#include "keyd/iam/allowlist_service.h"
#include "keyd/iam/authority/backend.h"

namespace portal::iam::authority {

// Whether `list` lets `address` in: always while inactive; when active, only an address one
// of its entries covers (an unparsable address: never).
bool allowlist_admits(const IpAllowlist& list, std::string_view address);

class IpAllowlists final : public AllowlistService {
public:
    explicit IpAllowlists(Backend& b) : b_(b) {}
    IpAllowlist get(const Caller& c) override;
    IpAllowlist set_active(const Caller& c, bool active) override;
    IpAllowlistEntry add(const Caller& c, const AllowlistEntryChange& e) override;
    IpAllowlistEntry update(const Caller& c, const std::string& id, const AllowlistEntryChange& e) override;
    void remove(const Caller& c, const std::string& id) override;

private:
    // Ends the sessions of the account's members made from addresses `list` does not admit.
    void end_unlisted_sessions(const std::string& account_id, const IpAllowlist& list);
    Backend& b_;
};

}  // namespace portal::iam::authority
