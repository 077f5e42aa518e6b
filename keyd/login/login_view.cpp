#include "keyd/login/login_view.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <utility>

namespace portal::login {

std::string authorized_key_line(std::string_view public_key, std::string_view name) {
    std::string line(public_key);
    if (name.empty()) return line;
    line += ' ';
    // sshd reads the helper's output line by line: a newline in a name would start a new
    // key line (with options of the writer's choosing). Control bytes become '_'.
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        line += (u < 0x20 || u == 0x7f) ? '_' : c;
    }
    return line;
}

namespace {

ipc::LoginKey login_key(store::LoginKeyRow& k) {
    return ipc::LoginKey{authorized_key_line(k.public_key, k.name), std::move(k.fingerprint_sha256)};
}

ipc::LoginMember login_member(store::LoginMemberRow& r, std::vector<ipc::LoginKey> keys) {
    ipc::LoginMember m;
    m.unix_name = std::move(r.unix_name);
    m.uid = r.uid;
    m.role = r.role;
    m.status = r.status;
    m.tfa_enabled = r.tfa_enabled;
    m.access_until = r.access_until;
    m.published = true;
    m.keys = std::move(keys);
    m.user_id = std::move(r.user_id);
    return m;
}

bool by_name(const ipc::LoginMember& a, const ipc::LoginMember& b) { return a.unix_name < b.unix_name; }

}  // namespace

std::optional<ipc::LoginMember> read_login_member(store::Store& store, const std::string& account_id,
                                                  const std::string& user_id) {
    auto row = store.login_rows().member(account_id, user_id);
    if (!row) return std::nullopt;
    std::vector<ipc::LoginKey> keys;
    for (auto& k : store.login_rows().keys_of(account_id, user_id)) keys.push_back(login_key(k));
    return login_member(*row, std::move(keys));
}

std::optional<std::vector<std::string>> active_ip_allowlist(store::Store& store, const std::string& account_id) {
    auto list = store.ip_allowlist().of_account(account_id);
    if (!list.active) return std::nullopt;
    std::vector<std::string> networks;
    networks.reserve(list.entries.size());
    for (auto& e : list.entries) networks.push_back(std::move(e.cidr));
    return networks;
}

ipc::LoginState build_login_state(store::Store& store, const ViewSettings& settings, std::int64_t now) {
    ipc::LoginState state;
    state.revision = store.revision();
    state.generated_at = now;
    state.grace_seconds = settings.grace.count();
    state.login_roles = settings.login_roles;

    std::optional<Account> account;
    if (!settings.account_id.empty()) {
        account = store.accounts().get(settings.account_id);
    } else {
        auto all = store.accounts().all();  // oldest first
        if (!all.empty()) account = std::move(all.front());
    }
    if (!account) {
        state.account_id = settings.account_id;
        return state;
    }
    state.account_id = account->id;
    state.enforce_2fa = account->enforce_2fa;
    if (settings.apply_ip_allowlist) state.ssh_ip_allowlist = active_ip_allowlist(store, account->id);

    // One query for the keys, one for the members: grouped here, not queried per user.
    std::unordered_map<std::string, std::vector<ipc::LoginKey>> keys_of;
    for (auto& k : store.login_rows().keys(account->id)) keys_of[k.user_id].push_back(login_key(k));

    auto rows = store.login_rows().members(account->id);
    state.members.reserve(rows.size());
    for (auto& r : rows) {
        std::vector<ipc::LoginKey> keys;
        if (auto it = keys_of.find(r.user_id); it != keys_of.end()) keys = std::move(it->second);
        state.members.push_back(login_member(r, std::move(keys)));
    }
    return state;
}

// ---- the incremental view -----------------------------------------------------------------

void IncrementalLoginView::set_settings(const ViewSettings& s) {
    settings_ = s;
    built_ = false;  // another account or other roles: build anew
}

const ipc::LoginState& IncrementalLoginView::refresh(store::Store& store, std::int64_t now) {
    store.read([&] {
        const std::uint64_t revision = store.revision();
        if (built_ && revision == state_.revision) return;
        if (!built_ || !apply(store, revision)) build(store);
    });
    state_.generated_at = now;
    return state_;
}

void IncrementalLoginView::build(store::Store& store) {
    state_ = build_login_state(store, settings_, 0);
    name_of_user_.clear();
    name_of_user_.reserve(state_.members.size());
    for (const auto& m : state_.members) name_of_user_.emplace(m.user_id, m.unix_name);
    built_ = true;
    touched_all_ = true;
    ++stats_.full_builds;
}

// Members are re-read when a change names them: their membership in this account, their user
// (name, uid, 2FA flag; a deleted user), their 2FA record or one of their keys here. Cost: a
// binary search and one or two point reads per named member, plus moving the members after
// an insertion point in the vector (memmove-like, no copies of strings).
bool IncrementalLoginView::apply(store::Store& store, std::uint64_t revision) {
    if (state_.account_id.empty()) return false;  // no account yet: nothing to apply to
    // More changes than members: a full build reads less.
    const auto changes = store.changes().since(state_.revision, std::max<std::size_t>(1000, state_.members.size()));
    if (!changes) return false;
    std::set<std::string> users;
    for (const auto& c : *changes) {
        if (c.kind == store::ChangeKind::account) {
            if (c.entity_id != state_.account_id) continue;
            if (c.op == store::ChangeOp::remove) return false;
            const auto account = store.accounts().get(state_.account_id);
            if (!account) return false;
            auto allowlist = settings_.apply_ip_allowlist ? active_ip_allowlist(store, state_.account_id)
                                                          : std::nullopt;
            // Every member's rules:
            if (state_.enforce_2fa != account->enforce_2fa || state_.ssh_ip_allowlist != allowlist) touched_all_ = true;
            state_.enforce_2fa = account->enforce_2fa;
            state_.ssh_ip_allowlist = std::move(allowlist);
            continue;
        }
        if (c.user_id.empty() || (!c.account_id.empty() && c.account_id != state_.account_id)) continue;
        users.insert(c.user_id);
    }
    auto& members = state_.members;
    // Every named member's old entry goes first, then the new ones come: a unix name freed
    // by one user and taken by another in the same batch must not leave the old entry behind
    // a new one of the same name (a deleted user served again).
    for (const auto& user_id : users) {
        auto it = name_of_user_.find(user_id);
        if (it == name_of_user_.end()) continue;
        ipc::LoginMember probe;
        probe.unix_name = it->second;
        auto [first, last] = std::equal_range(members.begin(), members.end(), probe, by_name);
        for (auto pos = first; pos != last; ++pos)
            if (pos->user_id == user_id) {
                members.erase(pos);
                break;
            }
        if (!touched_all_) touched_.insert(it->second);
        name_of_user_.erase(it);
    }
    for (const auto& user_id : users) {
        ++stats_.members_reread;
        auto read = read_login_member(store, state_.account_id, user_id);
        if (!read) continue;
        ipc::LoginMember m = std::move(*read);
        name_of_user_.emplace(m.user_id, m.unix_name);
        if (!touched_all_) touched_.insert(m.unix_name);
        auto pos = std::lower_bound(members.begin(), members.end(), m, by_name);
        members.insert(pos, std::move(m));
    }
    state_.revision = revision;
    ++stats_.applied;
    return true;
}

std::optional<std::unordered_set<std::string>> IncrementalLoginView::take_changed() {
    std::optional<std::unordered_set<std::string>> out;
    if (!touched_all_) out = std::move(touched_);
    touched_.clear();
    touched_all_ = false;
    return out;
}

StoreLoginStateSource::StoreLoginStateSource(store::Store& store, ViewSettings settings, Clock clock)
    : store_(store), clock_(std::move(clock)) {
    view_.set_settings(settings);
}

ipc::LoginState StoreLoginStateSource::load() {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock_().time_since_epoch()).count();
    return view_.refresh(store_, now);  // a copy: the refresher plans publication on it
}

}  // namespace portal::login
