// The IAM feed's answer to GET /v1/iam/changes (PORTAL.md §5): what changed in an account's
// login state since a revision. The authority writes it (keyd/api/handlers/iam_feed.cpp) and
// an agent reads it (keyd/sync/), with the same strictness as the login state file.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/ipc/login_state.h"

namespace portal::ipc {

struct FeedChanges {
    std::uint64_t revision = 0;                 // the account's state is at this revision now
    std::vector<LoginMember> upserts;           // members whose entry is new or changed
    std::vector<std::string> removed_user_ids;  // no longer members
    std::optional<bool> enforce_2fa;            // when the account's flags may have changed
    // With enforce_2fa: the account's IP allowlist while active (nullopt: inactive). A host
    // applies it to SSH when its configuration says so ([login] apply_ip_allowlist).
    std::optional<std::vector<std::string>> ip_allowlist;
    // With enforce_2fa, for a host that asked for profiles: the account's name.
    std::optional<std::string> account_name;

    bool has_news() const { return !upserts.empty() || !removed_user_ids.empty() || enforce_2fa.has_value(); }
};

// {"revision":N,"upserts":[member...],"removed":[user id...]} plus, when the account's flags
// are included, "enforce_2fa" and "ssh_ip_allowlist" (an array, or null while inactive), and
// with profiles "account_name". Members carry "profile" when they have one.
std::string feed_changes_to_json(const FeedChanges& changes);

// Strict: every field with its type, nothing unknown, members as in the login state (each
// key line, role and status checked), a user id at most once (upserted or removed), unix
// names unique among the upserts, "ssh_ip_allowlist" exactly when "enforce_2fa" is present
// and each entry a canonical network. `error` names the field ("upserts[2].role: ...").
std::optional<FeedChanges> feed_changes_from_json(std::string_view text, std::string& error);

}  // namespace portal::ipc
