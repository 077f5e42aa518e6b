#include "keyd/store/sessions_table.h"

#include "keyd/store/connection.h"

namespace portal::store {
namespace {

#define PORTAL_SESSION_COLS "id, user_id, ip, created_at, expires_at, last_used_at"

SessionRecord read_session(const sqlite::Statement& s) {
    SessionRecord r;
    r.id = s.column_text(0);
    r.user_id = s.column_text(1);
    r.ip = s.column_text(2);
    r.created_at = s.column_text(3);
    r.expires_at = s.column_text(4);
    r.last_used_at = s.column_optional_text(5);
    return r;
}

}  // namespace

void SessionsTable::insert(const SessionRecord& s, const std::string& secret_hash) {
    conn_.write_untracked([&] {
        Query prune(conn_, "DELETE FROM portal_sessions WHERE expires_at <= ?");
        prune->bind(1, s.created_at);
        prune->run();
        Query q(conn_, "INSERT INTO portal_sessions (" PORTAL_SESSION_COLS ", secret_hash) VALUES (?, ?, ?, ?, ?, NULL, ?)");
        q->bind_all(s.id, s.user_id, s.ip, s.created_at, s.expires_at);
        q->bind_blob(6, secret_hash);
        q->run();
    });
}

std::optional<SessionRecord> SessionsTable::by_hash(const std::string& secret_hash) {
    return conn_.locked([&]() -> std::optional<SessionRecord> {
        Query q(conn_, "SELECT " PORTAL_SESSION_COLS " FROM portal_sessions WHERE secret_hash = ?");
        q->bind_blob(1, secret_hash);
        if (!q->step()) return std::nullopt;
        return read_session(*q);
    });
}

bool SessionsTable::remove(const std::string& id) {
    bool removed = false;
    conn_.write_untracked([&] {
        Query q(conn_, "DELETE FROM portal_sessions WHERE id = ? RETURNING id");
        q->bind(1, id);
        removed = q->step();
    });
    return removed;
}

void SessionsTable::remove_of_user(const std::string& user_id, const std::string& keep_id) {
    conn_.write_untracked([&] {
        Query q(conn_, "DELETE FROM portal_sessions WHERE user_id = ? AND id != ?");
        q->bind_all(user_id, keep_id);
        q->run();
    });
}

std::vector<SessionRecord> SessionsTable::of_user(const std::string& user_id) {
    return conn_.locked([&] {
        std::vector<SessionRecord> out;
        Query q(conn_, "SELECT " PORTAL_SESSION_COLS " FROM portal_sessions WHERE user_id = ? ORDER BY created_at, id");
        q->bind(1, user_id);
        while (q->step()) out.push_back(read_session(*q));
        return out;
    });
}

std::vector<SessionRecord> SessionsTable::of_account_members(const std::string& account_id) {
    return conn_.locked([&] {
        std::vector<SessionRecord> out;
        Query q(conn_, "SELECT s.id, s.user_id, s.ip, s.created_at, s.expires_at, s.last_used_at FROM portal_sessions s"
                       " JOIN memberships m ON m.user_id = s.user_id WHERE m.account_id = ?");
        q->bind(1, account_id);
        while (q->step()) out.push_back(read_session(*q));
        return out;
    });
}

void SessionsTable::mark_used(const std::string& id, const std::string& at) {
    conn_.write_untracked([&] {
        Query q(conn_, "UPDATE portal_sessions SET last_used_at = ? WHERE id = ?"
                       " AND (last_used_at IS NULL OR substr(last_used_at, 1, 16) < substr(?, 1, 16))");
        q->bind_all(at, id, at);
        q->run();
    });
}

std::optional<std::string> SessionsTable::password_hash(const std::string& user_id) {
    return conn_.locked([&]() -> std::optional<std::string> {
        Query q(conn_, "SELECT hash FROM passwords WHERE user_id = ?");
        q->bind(1, user_id);
        if (!q->step()) return std::nullopt;
        return q->column_text(0);
    });
}

void SessionsTable::set_password_hash(const std::string& user_id, const std::string& hash, const std::string& at) {
    conn_.write_untracked([&] {
        Query q(conn_, "INSERT INTO passwords (user_id, hash, updated_at) VALUES (?, ?, ?)"
                       " ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at");
        q->bind_all(user_id, hash, at);
        q->run();
    });
}

}  // namespace portal::store
