#include "keyd/login/login_view.h"

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

    // One query for the keys, one for the members: grouped here, not queried per user.
    std::unordered_map<std::string, std::vector<ipc::LoginKey>> keys_of;
    for (auto& k : store.login_rows().keys(account->id))
        keys_of[k.user_id].push_back(ipc::LoginKey{authorized_key_line(k.public_key, k.name), std::move(k.fingerprint_sha256)});

    auto rows = store.login_rows().members(account->id);
    state.members.reserve(rows.size());
    for (auto& r : rows) {
        ipc::LoginMember m;
        m.unix_name = std::move(r.unix_name);
        m.uid = r.uid;
        m.role = r.role;
        m.status = r.status;
        m.tfa_enabled = r.tfa_enabled;
        m.published = true;
        if (auto it = keys_of.find(r.user_id); it != keys_of.end()) m.keys = std::move(it->second);
        m.user_id = std::move(r.user_id);
        state.members.push_back(std::move(m));
    }
    return state;
}

StoreLoginStateSource::StoreLoginStateSource(store::Store& store, ViewSettings settings, Clock clock)
    : store_(store), settings_(std::move(settings)), clock_(std::move(clock)) {}

ipc::LoginState StoreLoginStateSource::load() {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock_().time_since_epoch()).count();
    return build_login_state(store_, settings_, now);
}

}  // namespace portal::login
