// Where an agent keeps the portal's login state between restarts: <state_directory>/synced.db
// (SQLite, 0600), one row per member as the feed sent it and one row of account facts. A
// change is written in proportion to the change (its upserts and removals, one transaction);
// only a full state (the first sync, a 410, an answer replacing a rejected one) rewrites all.
// A restart while the portal is down starts from here: the last good state, checked as
// strictly as the feed's answers (a row that does not parse fails the whole load).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "keyd/store/sqlite.h"
#include "shared/ipc/feed_changes.h"
#include "shared/ipc/login_state.h"
#include "shared/model.h"

namespace portal::sync {

// What the agent knows about its portal, besides the state.
struct SyncFacts {
    std::string portal_url;       // the state belongs to this portal ("" before the first sync)
    std::int64_t synced_at = 0;   // unix seconds of the last answer from the portal (0: never)
    bool host_token_refused = false;  // the portal answered 401 to the host token last time
};

class SyncedStore {
public:
    static SyncedStore open(const std::filesystem::path& path);

    // The last good state and facts; nullopt (with `error`, "" when simply empty) when there
    // is none or it does not parse.
    std::optional<ipc::LoginState> load(SyncFacts& facts, std::string& error);
    // Replaces everything with `state` (its members in any order).
    void replace(const ipc::LoginState& state, const SyncFacts& facts);
    // Applies already validated changes: upserted and removed members, the account's flags.
    void apply(const ipc::FeedChanges& changes, const SyncFacts& facts);
    // Only the facts (a long-poll answered with no change; the host token refused).
    void save_facts(const SyncFacts& facts);
    // Forgets everything (the agent leaves its portal).
    void clear();

    // --- Login events waiting to be reported to the portal (at least once, in order) ---
    // Appends events while fewer than `max_queued` wait; the others are dropped and counted.
    // Returns how many were dropped.
    std::size_t enqueue_events(const std::vector<LoginEvent>& events, std::size_t max_queued);
    struct QueuedEvents {
        std::int64_t last_seq = 0;  // drop_events_through() this once they are reported
        std::string json;           // a JSON array of them, as POST /v1/iam/login_events takes
        std::size_t count = 0;
    };
    QueuedEvents peek_events(std::size_t max);
    void drop_events_through(std::int64_t seq);
    struct EventCounts {
        std::int64_t queued = 0;
        std::int64_t dropped = 0;  // since the queue was made, overflows included
    };
    EventCounts event_counts();

private:
    explicit SyncedStore(store::sqlite::Db db) : db_(std::move(db)) {}
    void write_account(const std::string& account_id, std::uint64_t revision, bool enforce_2fa,
                       const std::optional<std::vector<std::string>>& allowlist,
                       const std::optional<std::string>& account_name, const SyncFacts& facts);

    store::sqlite::Db db_;
};

}  // namespace portal::sync
