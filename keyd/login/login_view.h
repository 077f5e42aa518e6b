// The login state (shared/ipc/login_state.h) of the account this server follows: what the
// login socket answers from and what the fallback file and userdb records are made of.
// Built in full in one pass with one query per table (start-up, settings changed, the change
// log compacted past it), and otherwise kept current by applying the store's change log
// (keyd/store/change_log.h): only the members a change names are read again, by primary key.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "keyd/store/store.h"
#include "shared/ipc/login_state.h"
#include "shared/model.h"

namespace portal::login {

struct ViewSettings {
    std::string account_id;                                // empty: the oldest account
    std::vector<Role> login_roles{Role::owner, Role::manager};
    std::chrono::seconds grace{3600};                      // the fallback file's validity
    bool apply_ip_allowlist = false;                       // the account's IP allowlist for SSH too
};

// Where a complete login state comes from: the embedded store in authority mode, a
// remote portal in agent mode. load() throws on failure; the caller keeps the last good one.
class LoginStateSource {
public:
    virtual ~LoginStateSource() = default;
    virtual ipc::LoginState load() = 0;
    virtual void set_settings(const ViewSettings& s) = 0;  // config reload
    // The unix names of members that may differ between the previous load() and the last one
    // (old and new names of a renamed member; members who left or came), so that consumers
    // look at them only. nullopt: not known (the first load, a full build, an account-wide
    // change): compare everything.
    virtual std::optional<std::unordered_set<std::string>> take_changed() { return std::nullopt; }
};

// Every member of the account (published = true: userdb planning decides collisions),
// with their keys as "type base64 name" lines. An account that does not exist (yet)
// yields a state with no members.
ipc::LoginState build_login_state(store::Store& store, const ViewSettings& settings, std::int64_t now);
// The account's IP allowlist's networks while it is active; nullopt while it is not. (The
// login state carries it when ViewSettings::apply_ip_allowlist; the feed always.)
std::optional<std::vector<std::string>> active_ip_allowlist(store::Store& store, const std::string& account_id);

// One member of the account as the login state holds them (keys included); nullopt when the
// user is not a member of it.
std::optional<ipc::LoginMember> read_login_member(store::Store& store, const std::string& account_id,
                                                  const std::string& user_id);

// The key line sshd gets: "<type> <base64> <name>", the name made safe for one line.
std::string authorized_key_line(std::string_view public_key, std::string_view name);

// The login state of one account, kept current from the change log.
class IncrementalLoginView {
public:
    struct Stats {
        std::uint64_t full_builds = 0;
        std::uint64_t applied = 0;          // refreshes that applied changes
        std::uint64_t members_reread = 0;   // point reads of members, in total
    };

    // Brings the view to the store's current revision (a full build the first time, after
    // set_settings(), and when the log no longer holds the changes since the view's
    // revision) and returns it, stamped `now`.
    const ipc::LoginState& refresh(store::Store& store, std::int64_t now);
    void set_settings(const ViewSettings& s);
    const Stats& stats() const { return stats_; }
    // The names touched since the last call (see LoginStateSource::take_changed), and resets.
    std::optional<std::unordered_set<std::string>> take_changed();

private:
    void build(store::Store& store);
    bool apply(store::Store& store, std::uint64_t revision);  // false: build in full instead

    ViewSettings settings_;
    bool built_ = false;
    ipc::LoginState state_;  // members ordered by unix_name, as build_login_state's
    std::unordered_map<std::string, std::string> name_of_user_;  // user id -> unix_name, of state_'s members
    bool touched_all_ = true;  // a full build or an account-wide change since take_changed()
    std::unordered_set<std::string> touched_;
    Stats stats_;
};

class StoreLoginStateSource final : public LoginStateSource {
public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    StoreLoginStateSource(store::Store& store, ViewSettings settings, Clock clock);
    ipc::LoginState load() override;
    void set_settings(const ViewSettings& s) override { view_.set_settings(s); }
    std::optional<std::unordered_set<std::string>> take_changed() override { return view_.take_changed(); }
    const IncrementalLoginView::Stats& stats() const { return view_.stats(); }

private:
    store::Store& store_;
    Clock clock_;
    IncrementalLoginView view_;
};

}  // namespace portal::login
