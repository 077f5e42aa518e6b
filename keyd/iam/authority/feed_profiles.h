// The members' profiles (shared/ipc/member_profile.h) that the IAM feed adds for agents that
// ask (?profiles=1): read from the store inside the caller's store.read(), so that they are
// of the same revision as the login data beside them.
#pragma once
#include <string>

#include "keyd/store/store.h"
#include "shared/ipc/login_state.h"

namespace portal::iam::authority {

// Every member of `state` (its account): one query for the members, one for the keys.
void attach_profiles(store::Store& store, ipc::LoginState& state);
// One member (a change): point reads.
void attach_profile(store::Store& store, const std::string& account_id, ipc::LoginMember& m);

}  // namespace portal::iam::authority
