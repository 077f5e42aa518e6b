#include "keyd/store/notifications_table.h"

#include "keyd/store/connection.h"

namespace portal::store {
namespace {

#define PORTAL_NOTIFICATION_COLS                                                                                \
    "id, account_id, event, subject, body, recipients, status, attempts, last_error, created_at, sent_at, " \
    "next_attempt_at"

// Recipients are stored one per line: checked email addresses hold no line breaks.
std::string join_lines(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : "\n") + i;
    return out;
}

std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < s.size()) {
        auto end = s.find('\n', start);
        if (end == std::string::npos) end = s.size();
        if (end > start) out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

Notification read_notification(const sqlite::Statement& s) {
    Notification n;
    n.id = s.column_text(0);
    n.account_id = s.column_text(1);
    n.event = s.column_text(2);
    n.subject = s.column_text(3);
    n.body = s.column_text(4);
    n.recipients = split_lines(s.column_text(5));
    n.status = s.column_text(6);
    n.attempts = s.column_int(7);
    n.last_error = s.column_optional_text(8);
    n.created_at = s.column_text(9);
    n.sent_at = s.column_optional_text(10);
    n.next_attempt_at = s.column_text(11);
    return n;
}

}  // namespace

void NotificationsTable::queue(const Notification& n) {
    conn_.write_untracked([&] {
        Query q(conn_, "INSERT INTO notifications (" PORTAL_NOTIFICATION_COLS ")"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        q->bind_all(n.id, n.account_id, n.event, n.subject, n.body, join_lines(n.recipients), n.status, n.attempts,
                    n.last_error, n.created_at, n.sent_at, n.next_attempt_at);
        q->run();
    });
}

std::vector<Notification> NotificationsTable::of_account(const std::string& account_id, const Page& page) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT " PORTAL_NOTIFICATION_COLS " FROM notifications WHERE account_id = ?"
                       " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?");
        q->bind_all(account_id, page.limit, page.offset);
        std::vector<Notification> out;
        while (q->step()) out.push_back(read_notification(*q));
        return out;
    });
}

std::int64_t NotificationsTable::count(const std::string& account_id) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT count(*) FROM notifications WHERE account_id = ?");
        q->bind(1, account_id);
        return q->step() ? q->column_int(0) : 0;
    });
}

std::vector<Notification> NotificationsTable::due(const std::string& now, std::int64_t limit) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT " PORTAL_NOTIFICATION_COLS " FROM notifications"
                       " WHERE status = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, rowid LIMIT ?");
        q->bind_all(now, limit);
        std::vector<Notification> out;
        while (q->step()) out.push_back(read_notification(*q));
        return out;
    });
}

std::optional<std::string> NotificationsTable::next_attempt() {
    return conn_.locked([&] {
        Query q(conn_, "SELECT min(next_attempt_at) FROM notifications WHERE status = 'queued'");
        return q->step() ? q->column_optional_text(0) : std::nullopt;
    });
}

void NotificationsTable::mark_sent(const std::string& id, std::int64_t attempts, const std::string& at) {
    conn_.write_untracked([&] {
        Query q(conn_, "UPDATE notifications SET status = 'sent', attempts = ?, last_error = NULL, sent_at = ?"
                       " WHERE id = ?");
        q->bind_all(attempts, at, id).run();
    });
}

void NotificationsTable::mark_kept(const std::string& id, const std::string& why) {
    conn_.write_untracked([&] {
        Query q(conn_, "UPDATE notifications SET status = 'kept', last_error = ? WHERE id = ?");
        q->bind_all(why, id).run();
    });
}

std::int64_t NotificationsTable::prune(const std::string& before) {
    std::int64_t gone = 0;
    conn_.write_untracked([&] {
        Query q(conn_, "DELETE FROM notifications WHERE status IN ('sent', 'failed', 'kept') AND created_at < ?");
        gone = q->bind_all(before).run();
    });
    return gone;
}

void NotificationsTable::mark_unsent(const std::string& id, std::int64_t attempts, const std::string& error,
                                     const std::optional<std::string>& next_at) {
    conn_.write_untracked([&] {
        Query q(conn_, "UPDATE notifications SET status = ?, attempts = ?, last_error = ?,"
                       " next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?");
        q->bind_all(std::string(next_at ? "queued" : "failed"), attempts, error, next_at, id).run();
    });
}

}  // namespace portal::store
