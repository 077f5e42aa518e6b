// The account's IP allowlist (PORTAL.md §1, owner only): portal sessions work only from its
// networks while it is active. It does not restrict API tokens, nor the local socket.
#pragma once
#include <optional>
#include <string>

#include "keyd/iam/caller.h"
#include "shared/model.h"

namespace portal::iam {

struct AllowlistEntryChange {
    std::optional<std::string> cidr;  // required when adding
    std::optional<std::string> comment;
};

class AllowlistService {
public:
    virtual ~AllowlistService() = default;

    virtual IpAllowlist get(const Caller& c) = 0;
    // Switching it on ends the account members' sessions made from unlisted addresses. Over
    // HTTPS the caller's own address must be listed first (422 "active").
    virtual IpAllowlist set_active(const Caller& c, bool active) = 0;
    virtual IpAllowlistEntry add(const Caller& c, const AllowlistEntryChange& e) = 0;
    // While active, an HTTPS caller cannot change or remove the last entry that covers their
    // own address (422 "cidr" / 409).
    virtual IpAllowlistEntry update(const Caller& c, const std::string& id, const AllowlistEntryChange& e) = 0;
    virtual void remove(const Caller& c, const std::string& id) = 0;
};

}  // namespace portal::iam
