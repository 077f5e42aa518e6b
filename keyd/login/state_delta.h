// What differs between two login states, in time that follows the change when the source
// says which members it touched (LoginStateSource::take_changed): the refresher's consumers
// (publishers, state directory, revocation) then look at those members only.
#pragma once
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "shared/ipc/login_state.h"

namespace portal::login {

// Finds members by unix name: a binary search when the members are ordered by name (as the
// login view keeps them), else through an index built once.
class MemberLookup {
public:
    explicit MemberLookup(const ipc::LoginState& state);
    const ipc::LoginMember* find(std::string_view unix_name) const;
    bool sorted() const { return sorted_; }

private:
    const ipc::LoginState& state_;
    bool sorted_;
    std::unordered_map<std::string_view, const ipc::LoginMember*> index_;  // only when not sorted
};

// The unix names whose member differs between `before` and `now`, members who left or came
// included, the published flag included. `touched`: the names whose member may have changed
// in any field (the others are compared on the published flag only, which publication
// planning sets anew each time); null: everyone is compared in full.
std::unordered_set<std::string> differing_members(const ipc::LoginState& before, const ipc::LoginState& now,
                                                  const std::unordered_set<std::string>* touched);

// `state` with only the members named (header fields as they are).
ipc::LoginState only_named(const ipc::LoginState& state, const MemberLookup& lookup,
                           const std::unordered_set<std::string>& names);

}  // namespace portal::login
