#include "keyd/sync/synced_state.h"

#include <algorithm>

namespace portal::sync {
namespace {

bool by_name(const ipc::LoginMember& a, const ipc::LoginMember& b) { return a.unix_name < b.unix_name; }

}  // namespace

std::string SyncedState::check_state(const ipc::LoginState& s) const {
    if (s.account_id.empty()) return "account_id: empty";
    if (held_ && s.account_id != state_.account_id)
        return "account_id: the state is of account " + s.account_id + ", this server follows " + state_.account_id;
    if (held_ && s.revision < state_.revision)
        return "revision: " + std::to_string(s.revision) + " is older than the " + std::to_string(state_.revision) +
               " held";
    std::unordered_set<std::string_view> ids;
    for (const auto& m : s.members) {
        if (m.user_id.empty()) return "members: a member without user_id";
        if (!ids.insert(m.user_id).second) return "members: user " + m.user_id + " listed twice";
    }
    return "";  // duplicate unix names are refused by the parser
}

std::string SyncedState::check_changes(const ipc::FeedChanges& c) const {
    if (!held_) return "changes without a state to apply them to";
    if (c.revision < state_.revision)
        return "revision: " + std::to_string(c.revision) + " is older than the " + std::to_string(state_.revision) +
               " held";
    // After the changes, every unix name belongs to one user: a name an upsert takes must be
    // free, or its holder's, or held by someone this answer removes or renames.
    std::unordered_set<std::string> leaving(c.removed_user_ids.begin(), c.removed_user_ids.end());
    for (const auto& m : c.upserts) {
        const auto it = name_of_user_.find(m.user_id);
        if (it != name_of_user_.end() && it->second != m.unix_name) leaving.insert(m.user_id);
    }
    for (const auto& m : c.upserts) {
        const auto pos = std::lower_bound(state_.members.begin(), state_.members.end(), m, by_name);
        if (pos == state_.members.end() || pos->unix_name != m.unix_name) continue;
        if (pos->user_id != m.user_id && !leaving.count(pos->user_id))
            return "upserts: " + m.unix_name + " would belong to two users (" + pos->user_id + ", " + m.user_id + ")";
    }
    return "";
}

void SyncedState::replace(ipc::LoginState s) {
    std::sort(s.members.begin(), s.members.end(), by_name);
    state_ = std::move(s);
    name_of_user_.clear();
    name_of_user_.reserve(state_.members.size());
    for (const auto& m : state_.members) name_of_user_.emplace(m.user_id, m.unix_name);
    held_ = true;
    touched_all_ = true;
    touched_.clear();
}

ipc::LoginMember* SyncedState::find_by_name(const std::string& unix_name) {
    ipc::LoginMember probe;
    probe.unix_name = unix_name;
    const auto pos = std::lower_bound(state_.members.begin(), state_.members.end(), probe, by_name);
    return pos != state_.members.end() && pos->unix_name == unix_name ? &*pos : nullptr;
}

void SyncedState::apply(const ipc::FeedChanges& c) {
    auto erase_user = [this](const std::string& user_id) {
        const auto it = name_of_user_.find(user_id);
        if (it == name_of_user_.end()) return;
        touched_.insert(it->second);
        ipc::LoginMember probe;
        probe.unix_name = it->second;
        const auto pos = std::lower_bound(state_.members.begin(), state_.members.end(), probe, by_name);
        if (pos != state_.members.end() && pos->unix_name == it->second) state_.members.erase(pos);
        name_of_user_.erase(it);
    };
    for (const auto& id : c.removed_user_ids) erase_user(id);
    // Renamed members leave their old place first, so that a swap of two names never clashes.
    for (const auto& m : c.upserts) {
        const auto it = name_of_user_.find(m.user_id);
        if (it != name_of_user_.end() && it->second != m.unix_name) erase_user(m.user_id);
    }
    for (const auto& m : c.upserts) {
        touched_.insert(m.unix_name);
        if (ipc::LoginMember* held = find_by_name(m.unix_name)) {
            if (held->user_id != m.user_id) name_of_user_.erase(held->user_id);  // check_changes saw it leave
            *held = m;
        } else {
            state_.members.insert(std::upper_bound(state_.members.begin(), state_.members.end(), m, by_name), m);
        }
        name_of_user_[m.user_id] = m.unix_name;
    }
    if (c.enforce_2fa) {
        state_.enforce_2fa = *c.enforce_2fa;
        state_.ssh_ip_allowlist = c.ip_allowlist;
        if (c.account_name) state_.account_name = c.account_name;
        touched_all_ = true;  // an account-wide change
    }
    state_.revision = c.revision;
}

std::optional<std::unordered_set<std::string>> SyncedState::take_touched() {
    std::unordered_set<std::string> out;
    out.swap(touched_);
    if (touched_all_) {
        touched_all_ = false;
        return std::nullopt;
    }
    return out;
}

}  // namespace portal::sync
