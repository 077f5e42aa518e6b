// The portal's login state as this agent holds it, and the checks an answer must pass before
// it replaces or changes it (PORTAL.md §5: a bad answer never replaces the last good state):
// a state or changes for another account, with a revision older than the one held, or that
// would leave two members with one unix name, are refused whole.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "shared/ipc/feed_changes.h"
#include "shared/ipc/login_state.h"

namespace portal::sync {

class SyncedState {
public:
    bool empty() const { return !held_; }
    const ipc::LoginState& state() const { return state_; }
    std::uint64_t revision() const { return state_.revision; }
    const std::string& account_id() const { return state_.account_id; }

    // Checks without changing anything; "" when acceptable, else why not.
    std::string check_state(const ipc::LoginState& s) const;
    std::string check_changes(const ipc::FeedChanges& c) const;

    // Takes a state check_state() accepted (members are ordered by unix name here).
    void replace(ipc::LoginState s);
    // Applies changes check_changes() accepted.
    void apply(const ipc::FeedChanges& c);

    // The unix names touched since the last call (old and new names of renamed members);
    // nullopt after a replace(): compare everything.
    std::optional<std::unordered_set<std::string>> take_touched();

private:
    ipc::LoginMember* find_by_name(const std::string& unix_name);

    bool held_ = false;
    ipc::LoginState state_;  // members ordered by unix_name
    std::unordered_map<std::string, std::string> name_of_user_;  // user id -> unix name
    bool touched_all_ = true;
    std::unordered_set<std::string> touched_;
};

}  // namespace portal::sync
