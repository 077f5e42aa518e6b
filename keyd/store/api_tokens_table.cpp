#include "keyd/store/api_tokens_table.h"

#include "keyd/store/connection.h"

namespace portal::store {
namespace {

#define PORTAL_TOKEN_COLS "id, user_id, name, access_level, created_at, expires_at, last_used_at"

ApiToken read_token(const sqlite::Statement& s) {
    ApiToken t;
    t.id = s.column_text(0);
    t.user_id = s.column_text(1);
    t.name = s.column_text(2);
    t.access = parse_token_access(s.column_text(3)).value_or(TokenAccess::read_only);
    t.created_at = s.column_text(4);
    t.expires_at = s.column_optional_text(5);
    t.last_used_at = s.column_optional_text(6);
    return t;
}

}  // namespace

void ApiTokensTable::insert(const ApiToken& t, const std::string& secret_hash) {
    conn_.write_untracked([&] {
        Query q(conn_, "INSERT INTO api_tokens (" PORTAL_TOKEN_COLS ", secret_hash) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)");
        q->bind_all(t.id, t.user_id, t.name, std::string(to_string(t.access)), t.created_at, t.expires_at);
        q->bind_blob(7, secret_hash);
        q->run();
    });
}

std::vector<ApiToken> ApiTokensTable::of_user(const std::string& user_id) {
    return conn_.locked([&] {
        std::vector<ApiToken> out;
        Query q(conn_, "SELECT " PORTAL_TOKEN_COLS " FROM api_tokens WHERE user_id = ? ORDER BY created_at, id");
        q->bind(1, user_id);
        while (q->step()) out.push_back(read_token(*q));
        return out;
    });
}

std::optional<ApiToken> ApiTokensTable::get(const std::string& user_id, const std::string& id) {
    return conn_.locked([&]() -> std::optional<ApiToken> {
        Query q(conn_, "SELECT " PORTAL_TOKEN_COLS " FROM api_tokens WHERE user_id = ? AND id = ?");
        q->bind_all(user_id, id);
        if (!q->step()) return std::nullopt;
        return read_token(*q);
    });
}

std::optional<ApiToken> ApiTokensTable::by_hash(const std::string& secret_hash) {
    return conn_.locked([&]() -> std::optional<ApiToken> {
        Query q(conn_, "SELECT " PORTAL_TOKEN_COLS " FROM api_tokens WHERE secret_hash = ?");
        q->bind_blob(1, secret_hash);
        if (!q->step()) return std::nullopt;
        return read_token(*q);
    });
}

bool ApiTokensTable::remove(const std::string& user_id, const std::string& id) {
    bool removed = false;
    conn_.write_untracked([&] {
        Query q(conn_, "DELETE FROM api_tokens WHERE user_id = ? AND id = ? RETURNING id");
        q->bind_all(user_id, id);
        removed = q->step();
    });
    return removed;
}

void ApiTokensTable::mark_used(const std::string& id, const std::string& at) {
    // RFC 3339 with whole seconds sorts as text: "older by a minute" compares the first 16
    // characters ("2026-12-02T13:15").
    conn_.write_untracked([&] {
        Query q(conn_, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?"
                       " AND (last_used_at IS NULL OR substr(last_used_at, 1, 16) < substr(?, 1, 16))");
        q->bind_all(at, id, at);
        q->run();
    });
}

}  // namespace portal::store
