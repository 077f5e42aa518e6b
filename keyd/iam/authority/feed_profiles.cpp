#include "keyd/iam/authority/feed_profiles.h"

#include "shared/ipc/login_member_json.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <unordered_map>

namespace portal::iam::authority {
namespace {

constexpr store::Page kEverything{0, std::numeric_limits<std::int64_t>::max()};

ipc::KeyProfile key_profile(const SshKey& k) {
    return ipc::KeyProfile{k.fingerprint_sha256, k.fingerprint, k.name, k.labels, k.created_at, k.updated_at};
}

std::shared_ptr<const std::string> profile_of(const AccountUser& au, std::vector<ipc::KeyProfile> keys) {
    ipc::MemberProfile p;
    p.email = au.user.email;
    p.name = au.user.name;
    p.created_at = au.user.created_at;
    p.updated_at = std::max(au.user.updated_at, au.membership.updated_at);
    p.joined_at = au.membership.created_at;
    p.keys = std::move(keys);
    return ipc::profile_text(p);
}

}  // namespace

void attach_profiles(store::Store& store, ipc::LoginState& state) {
    if (const auto account = store.accounts().get(state.account_id)) state.account_name = account->name;
    std::int64_t total = 0;
    std::unordered_map<std::string, std::vector<ipc::KeyProfile>> keys_of;
    for (const auto& k : store.ssh_keys().list(state.account_id, std::nullopt, kEverything, total))
        keys_of[k.user_id].push_back(key_profile(k));
    std::unordered_map<std::string, AccountUser> users;
    for (auto& au : store.memberships().list(state.account_id, kEverything, total)) {
        std::string id = au.user.id;
        users.emplace(std::move(id), std::move(au));
    }
    for (auto& m : state.members) {
        const auto it = users.find(m.user_id);
        if (it == users.end()) continue;
        auto k = keys_of.find(m.user_id);
        m.profile = profile_of(it->second, k == keys_of.end() ? std::vector<ipc::KeyProfile>{} : std::move(k->second));
    }
}

void attach_profile(store::Store& store, const std::string& account_id, ipc::LoginMember& m) {
    const auto au = store.memberships().account_user(account_id, m.user_id);
    if (!au) return;
    std::int64_t total = 0;
    std::vector<ipc::KeyProfile> keys;
    for (const auto& k : store.ssh_keys().list(account_id, m.user_id, kEverything, total)) keys.push_back(key_profile(k));
    m.profile = profile_of(*au, std::move(keys));
}

}  // namespace portal::iam::authority
