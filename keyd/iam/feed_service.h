// The IAM feed an enrolled host follows (PORTAL.md §5): its account's login state at one
// revision, and what changed since a revision, from the change log. Never secrets.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/model.h"

#include "keyd/iam/caller.h"
#include "shared/ipc/feed_changes.h"
#include "shared/ipc/login_state.h"

namespace portal::iam {

using FeedChanges = ipc::FeedChanges;

// A host asks the authority to check a member's TOTP code (secrets never leave it).
struct HostTfaCheck {
    std::string user_id, code, hostname, ip;
};
struct HostTfaResult {
    std::string result;  // "ok", "wrong_code", "locked", "not_enrolled", "not_active"
    std::int64_t retry_after = 0;  // seconds, when locked
    bool ok() const { return result == "ok"; }
};

class FeedService {
public:
    virtual ~FeedService() = default;

    // A host: its own account (X-Account-ID must be absent or the same). Root: the given or
    // the oldest account. `profiles`: members with their profiles (an agent's local API reads
    // them) and the account's name.
    virtual ipc::LoginState state(const Principal& p, const std::optional<std::string>& account_id,
                                  bool profiles = false) = 0;
    // The revision state() would answer with now, without building it (If-None-Match: 304).
    virtual std::uint64_t state_revision(const Principal& p, const std::optional<std::string>& account_id) = 0;
    // nullopt: the changes since `since` are no longer kept (or `since` is in the future):
    // fetch the state again (410 Gone).
    virtual std::optional<FeedChanges> changes(const Principal& p, const std::optional<std::string>& account_id,
                                               std::uint64_t since, bool profiles = false) = 0;
    // The code of a member of the host's account, with the same replay mark and failure limits
    // as a local login. 404 for a user who is not a member of that account.
    virtual HostTfaResult verify_tfa(const Principal& p, const HostTfaCheck& check) = 0;
    // Login events the host saw (stamped with its id and account); a repeated event id is
    // ignored. Allowed logins become their users' last_login. Returns how many were new.
    virtual std::size_t report_logins(const Principal& p, std::vector<LoginEvent> events) = 0;
    // The store's revision now (long-polls wait for it to pass theirs).
    virtual std::uint64_t revision() = 0;
};

}  // namespace portal::iam
