// Security notifications (model.h Notification): queued inside the write that caused them, so a
// change and its notice commit together or not at all; then delivered (keyd/notify/mailer.h).
// Not IAM state: writes move no revision (they join a tracked write's transaction when queued
// from one).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keyd/store/types.h"
#include "shared/model.h"

namespace portal::store {

class Connection;

class NotificationsTable {
public:
    explicit NotificationsTable(Connection& conn) : conn_(conn) {}

    void queue(const Notification& n);
    // Newest first (in the order they were queued).
    std::vector<Notification> of_account(const std::string& account_id, const Page& page);
    std::int64_t count(const std::string& account_id);
    // Queued, with next_attempt_at at or before `now` (RFC 3339): oldest first, at most `limit`.
    std::vector<Notification> due(const std::string& now, std::int64_t limit);
    // The earliest next_attempt_at of a queued one; nullopt when none is queued.
    std::optional<std::string> next_attempt();
    void mark_sent(const std::string& id, std::int64_t attempts, const std::string& at);
    void mark_kept(const std::string& id, const std::string& why);
    // Another try at `next_at`, or given up ("failed") when next_at is nullopt.
    void mark_unsent(const std::string& id, std::int64_t attempts, const std::string& error,
                     const std::optional<std::string>& next_at);
    // Forgets the notices settled (sent, failed, kept) and queued before `before` (RFC 3339);
    // a queued one is never forgotten. Returns how many went.
    std::int64_t prune(const std::string& before);

private:
    Connection& conn_;
};

}  // namespace portal::store
