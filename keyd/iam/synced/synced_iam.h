// Agent mode's IAM services (keyd/iam/services.h) over the synced copy of the portal's state
// (what the feed sent, with members' profiles): the local API's reads of the account, its
// members, their SSH keys and the caller's profile are answered here, so that they work with
// the portal down (PORTAL.md §5). Each read starts with the same authorize() call as the
// authority's, against the caller's role in the synced state. Everything else is the
// portal's: the agent forwards it (keyd/modes/agent_api.h) before it reaches these, and the
// services that would do it here answer 500 should anything call them.
//
// What the synced copy does not hold reads differently from the portal: last_login is null
// (the portal keeps it), an account's created_at is empty, and a member's profile lists this
// account only.
#pragma once
#include <functional>
#include <memory>

#include "keyd/iam/services.h"
#include "shared/ipc/login_state.h"

namespace portal::iam::synced {

// The synced state as the follower last accepted it (read on the main thread only).
using SyncedStateView = std::function<const ipc::LoginState&()>;
// Whether this server publishes the member as a user (false: a local account holds their
// name or uid, or the uid is outside [users] uid_min..uid_max). Only a published member's
// uid is that member here: anyone else holding that uid is a local user, not them.
using PublishedHere = std::function<bool(const std::string& user_id)>;

class SyncedIam {
public:
    SyncedIam(SyncedStateView state, PublishedHere published);
    ~SyncedIam();
    SyncedIam(const SyncedIam&) = delete;
    SyncedIam& operator=(const SyncedIam&) = delete;

    const Services& services() const { return *services_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::unique_ptr<Services> services_;
};

}  // namespace portal::iam::synced
