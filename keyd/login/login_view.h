// The login state (shared/ipc/login_state.h) of the account this server follows: what the
// login socket answers from and what the fallback file and userdb records are made of.
// Built in one pass with one query per table, so 10,000 members x 3 keys stay fast.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "keyd/store/store.h"
#include "shared/ipc/login_state.h"
#include "shared/model.h"

namespace portal::login {

struct ViewSettings {
    std::string account_id;                                // empty: the oldest account
    std::vector<Role> login_roles{Role::owner, Role::manager};
    std::chrono::seconds grace{3600};                      // the fallback file's validity
};

// Where a complete login state comes from: the embedded store in authority mode, a
// remote portal in agent mode. load() throws on failure; the caller keeps the last good one.
class LoginStateSource {
public:
    virtual ~LoginStateSource() = default;
    virtual ipc::LoginState load() = 0;
    virtual void set_settings(const ViewSettings& s) = 0;  // config reload
};

// Every member of the account (published = true: userdb planning decides collisions),
// with their keys as "type base64 name" lines. An account that does not exist (yet)
// yields a state with no members.
ipc::LoginState build_login_state(store::Store& store, const ViewSettings& settings, std::int64_t now);

// The key line sshd gets: "<type> <base64> <name>", the name made safe for one line.
std::string authorized_key_line(std::string_view public_key, std::string_view name);

class StoreLoginStateSource final : public LoginStateSource {
public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    StoreLoginStateSource(store::Store& store, ViewSettings settings, Clock clock);
    ipc::LoginState load() override;
    void set_settings(const ViewSettings& s) override { settings_ = s; }

private:
    store::Store& store_;
    ViewSettings settings_;
    Clock clock_;
};

}  // namespace portal::login
