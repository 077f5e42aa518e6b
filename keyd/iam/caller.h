// Who is asking, in which account: resolved once per request from the socket peer.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "shared/model.h"

namespace portal::iam {

// One of a user's memberships with its account (Enforce 2FA is an account setting).
struct AccountMembership {
    Account account;
    Role role = Role::manager;
    MemberStatus status = MemberStatus::active;
    // For a session: whether the account's IP allowlist (if active) lists the request's address.
    bool address_admitted = true;
};

// How the principal proved who it is: the local socket's peer uid, or a Bearer credential
// over HTTPS. The guard caps what a credential may do (a read_only token only reads; a
// session only from where the account's IP allowlist admits).
enum class Credential { local_peer, api_token_full, api_token_read_only, session, host_token, none };

struct Principal {
    // system: root on the socket. user: a person. host: an enrolled server (its host token),
    // which reads its account's IAM feed and nothing else. anonymous: no credential, on the
    // few routes that take their proof in the body (host registration).
    enum class Kind { system, user, host, anonymous };
    Kind kind = Kind::user;
    Credential credential = Credential::local_peer;
    std::string credential_id;  // the token's id, for logs ("" for the local peer)
    std::string remote_address;  // over HTTPS: the client's address ("" on the socket)
    uid_t uid = static_cast<uid_t>(-1);
    std::optional<User> user;                     // set for Kind::user
    std::vector<AccountMembership> memberships;   // every one of the user's, oldest first
    std::optional<Host> host;                     // set for Kind::host

    bool is_system() const { return kind == Kind::system; }
    const std::string& user_id() const { return user->id; }
};

// A principal acting in one account. `role` is the effective role (system: owner).
struct Caller {
    Principal principal;
    Account account;
    Role role = Role::manager;
    std::optional<Membership> membership;  // empty for the system principal
    bool address_admitted = true;          // a session from outside the account's IP allowlist: false

    bool is_system() const { return principal.is_system(); }
    bool has_tfa() const { return principal.user && principal.user->tfa_enabled; }
};

}  // namespace portal::iam
