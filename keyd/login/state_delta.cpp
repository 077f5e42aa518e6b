#include "keyd/login/state_delta.h"

#include <algorithm>

namespace portal::login {

namespace {
bool by_name(const ipc::LoginMember& a, const ipc::LoginMember& b) { return a.unix_name < b.unix_name; }
}  // namespace

MemberLookup::MemberLookup(const ipc::LoginState& state)
    : state_(state), sorted_(std::is_sorted(state.members.begin(), state.members.end(), by_name)) {
    if (sorted_) return;
    index_.reserve(state.members.size());
    for (const auto& m : state.members) index_.emplace(m.unix_name, &m);
}

const ipc::LoginMember* MemberLookup::find(std::string_view unix_name) const {
    if (!sorted_) {
        auto it = index_.find(unix_name);
        return it == index_.end() ? nullptr : it->second;
    }
    auto it = std::lower_bound(state_.members.begin(), state_.members.end(), unix_name,
                               [](const ipc::LoginMember& m, std::string_view n) { return m.unix_name < n; });
    return it != state_.members.end() && it->unix_name == unix_name ? &*it : nullptr;
}

std::unordered_set<std::string> differing_members(const ipc::LoginState& before, const ipc::LoginState& now,
                                                  const std::unordered_set<std::string>* touched) {
    std::unordered_set<std::string> out;
    auto differ = [&](const ipc::LoginMember& a, const ipc::LoginMember& b) {
        if (touched && !touched->count(a.unix_name)) return a.published != b.published;
        return !(a == b);
    };
    const MemberLookup had(before), has(now);
    if (had.sorted() && has.sorted()) {
        // One walk over both, in name order: a string comparison per member, no hashing.
        auto a = before.members.begin(), b = now.members.begin();
        while (a != before.members.end() || b != now.members.end()) {
            if (b == now.members.end() || (a != before.members.end() && a->unix_name < b->unix_name)) {
                out.insert((a++)->unix_name);  // left
            } else if (a == before.members.end() || b->unix_name < a->unix_name) {
                out.insert((b++)->unix_name);  // came
            } else {
                if (differ(*a, *b)) out.insert(b->unix_name);
                ++a;
                ++b;
            }
        }
        return out;
    }
    for (const auto& m : now.members) {
        const auto* old = had.find(m.unix_name);
        if (!old || differ(*old, m)) out.insert(m.unix_name);
    }
    for (const auto& m : before.members)
        if (!has.find(m.unix_name)) out.insert(m.unix_name);
    return out;
}

ipc::LoginState only_named(const ipc::LoginState& state, const MemberLookup& lookup,
                           const std::unordered_set<std::string>& names) {
    ipc::LoginState out = ipc::header_of(state);
    for (const auto& name : names)
        if (const auto* m = lookup.find(name)) out.members.push_back(*m);
    std::sort(out.members.begin(), out.members.end(), by_name);
    return out;
}

}  // namespace portal::login
