// Agent mode's login state source: the portal's state as the follower (keyd/sync/follower.h)
// brought it, checked (SyncedState), kept on disk (SyncedStore) and served through the same
// refresher pipeline as the authority's store (userdb, login socket, fallback, revocation).
// Lives on the main thread; the follower hands it answers and waits for the verdict.
//
// Offline rules (PORTAL.md §5): members log in from the last good state for
// `offline_grace` after the portal last answered; past it, or once the portal refused this
// host's token (401), every member is served as deactivated (refused, sessions ended) until
// the portal answers again. Support staff hold their access only until their grant's end
// (access_until) also when the portal cannot say so: past it they are served deactivated.
// Local users and root never depend on any of this.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_set>

#include "keyd/login/login_view.h"
#include "keyd/sync/synced_state.h"
#include "keyd/sync/synced_store.h"

namespace portal::sync {

struct SyncStatus {
    std::string portal_url;
    std::string account_id;
    std::uint64_t revision = 0;         // applied
    std::int64_t last_sync = 0;         // unix seconds of the portal's last answer (0: never)
    std::int64_t offline_since = 0;     // first failure since the last answer (0: online)
    std::string last_error;             // of the last failed attempt ("" after an answer)
    std::uint64_t rejected_answers = 0; // answers refused whole since start
    bool host_token_refused = false;
    bool members_withheld = false;      // offline grace passed or token refused: members refused
};

class SyncedLoginSource final : public login::LoginStateSource {
public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    // Loads the last good state from `store` (a state of another portal URL is dropped).
    SyncedLoginSource(SyncedStore& store, std::string portal_url, login::ViewSettings settings,
                      std::chrono::seconds offline_grace, Clock clock, std::function<void()> on_change);

    ipc::LoginState load() override;
    void set_settings(const login::ViewSettings& s) override;
    std::optional<std::unordered_set<std::string>> take_changed() override;
    void set_offline_grace(std::chrono::seconds grace);

    // From the follower (main thread). Each returns "" when taken, else why it was refused
    // (the state held stays as it was).
    std::string accept_state(ipc::LoginState state);
    std::string accept_changes(const ipc::FeedChanges& changes);
    void portal_answered();  // a 304, an empty long-poll, a 410
    void portal_failed(const std::string& error, bool host_token_refused);
    void answer_rejected(const std::string& why);
    // Re-evaluates the offline grace and the support access windows (a timer calls it): a
    // refresh when members' access flips.
    void tick();

    bool has_state() const { return !state_.empty(); }
    std::uint64_t revision() const { return state_.revision(); }
    // The portal's state as last accepted (members as the portal sent them, before the
    // offline rules): what the local API answers from.
    const ipc::LoginState& synced() const { return state_.state(); }
    SyncStatus status() const;

private:
    bool members_withheld() const;
    void answered_now();
    void check_withheld();
    void check_support_windows();
    void keep_on_disk(const ipc::FeedChanges& changes);

    SyncedStore& store_;
    SyncFacts facts_;
    login::ViewSettings settings_;
    std::chrono::seconds offline_grace_;
    Clock clock_;
    std::function<void()> on_change_;
    SyncedState state_;
    bool withheld_ = false;  // as last served
    bool disk_behind_ = false;  // synced.db missed a write: the next one is the whole state
    bool settings_changed_ = true;
    std::int64_t next_window_end_ = 0;               // earliest support access_until ahead at the last load; 0: none
    std::unordered_set<std::string> windows_ended_;  // names whose window ended since the last refresh
    std::unordered_set<std::string> window_ended_before_;  // support members served past their end at the last load
    std::int64_t offline_since_ = 0;
    std::string last_error_;
    std::uint64_t rejected_ = 0;
};

}  // namespace portal::sync
