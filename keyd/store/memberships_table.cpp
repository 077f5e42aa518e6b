#include "keyd/store/memberships_table.h"

#include <string_view>

#include "keyd/store/connection.h"
#include "keyd/store/rows.h"
#include "keyd/store/timestamp.h"

namespace portal::store {

namespace {
// A LIKE pattern matching `text` anywhere, with LIKE's own wildcards in it taken literally.
std::string like_substring(std::string_view text) {
    std::string p = "%";
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\') p += '\\';
        p += c;
    }
    return p + "%";
}
}  // namespace

std::optional<Membership> MembershipsTable::get(const std::string& account_id, const std::string& user_id) {
    return conn_.locked([&]() -> std::optional<Membership> {
        Query q(conn_, "SELECT " PORTAL_MEMBER_COLS " FROM memberships m WHERE m.account_id = ? AND m.user_id = ?");
        q->bind_all(account_id, user_id);
        if (!q->step()) return std::nullopt;
        return read_membership(*q);
    });
}

std::optional<AccountUser> MembershipsTable::account_user(const std::string& account_id, const std::string& user_id) {
    return conn_.locked([&]() -> std::optional<AccountUser> {
        Query q(conn_, "SELECT " PORTAL_USER_COLS ", " PORTAL_MEMBER_COLS
                       " FROM memberships m JOIN users u ON u.id = m.user_id"
                       " WHERE m.account_id = ? AND m.user_id = ?");
        q->bind_all(account_id, user_id);
        if (!q->step()) return std::nullopt;
        return read_account_user(*q);
    });
}

std::vector<AccountUser> MembershipsTable::joined_page(const std::string& account_id, std::int64_t limit,
                                                std::int64_t offset) {
    Query q(conn_, "SELECT " PORTAL_USER_COLS ", " PORTAL_MEMBER_COLS
                   " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.account_id = ?"
                   " ORDER BY m.created_at, m.user_id LIMIT ? OFFSET ?");
    q->bind_all(account_id, limit, offset);
    std::vector<AccountUser> out;
    while (q->step()) out.push_back(read_account_user(*q));
    return out;
}

std::vector<AccountUser> MembershipsTable::list(const std::string& account_id, Page pg, std::int64_t& total) {
    return conn_.locked([&] {
        {
            Query q(conn_, "SELECT COUNT(*) FROM memberships WHERE account_id = ?");
            q->bind(1, account_id);
            total = q->step() ? q->column_int(0) : 0;
        }
        return joined_page(account_id, sql_limit(pg), sql_offset(pg));
    });
}

std::vector<AccountUser> MembershipsTable::list(const std::string& account_id, const MemberFilter& filter, Page pg,
                                                std::int64_t& total) {
    if (!filter.role && !filter.status && !filter.search) return list(account_id, pg, total);
    std::optional<std::string> role, status, pattern;
    if (filter.role) role = std::string(to_string(*filter.role));
    if (filter.status) status = std::string(to_string(*filter.status));
    if (filter.search) pattern = like_substring(*filter.search);
#define PORTAL_MEMBER_FILTER                                                                              \
    " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.account_id = ?1"                         \
    " AND (?2 IS NULL OR m.role = ?2) AND (?3 IS NULL OR m.status = ?3)"                                   \
    " AND (?4 IS NULL OR u.email LIKE ?4 ESCAPE '\\' OR u.name LIKE ?4 ESCAPE '\\' OR u.unix_name LIKE ?4 ESCAPE '\\')"
    return conn_.locked([&] {
        {
            Query q(conn_, "SELECT COUNT(*)" PORTAL_MEMBER_FILTER);
            q->bind_all(account_id, role, status, pattern);
            total = q->step() ? q->column_int(0) : 0;
        }
        Query q(conn_, "SELECT " PORTAL_USER_COLS ", " PORTAL_MEMBER_COLS PORTAL_MEMBER_FILTER
                       " ORDER BY m.created_at, m.user_id LIMIT ?5 OFFSET ?6");
        q->bind_all(account_id, role, status, pattern, sql_limit(pg), sql_offset(pg));
        std::vector<AccountUser> out;
        while (q->step()) out.push_back(read_account_user(*q));
        return out;
    });
#undef PORTAL_MEMBER_FILTER
}

std::vector<AccountUser> MembershipsTable::all(const std::string& account_id) {
    return conn_.locked([&] { return joined_page(account_id, -1, 0); });
}

std::vector<std::string> MembershipsTable::user_ids_with_role(const std::string& account_id, Role role) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT user_id FROM memberships WHERE account_id = ? AND role = ? ORDER BY user_id");
        q->bind_all(account_id, to_string(role));
        std::vector<std::string> out;
        while (q->step()) out.push_back(q->column_text(0));
        return out;
    });
}

void MembershipsTable::put(const Membership& m) {
    conn_.write([&] {
        Query q(conn_, "INSERT INTO memberships (account_id, user_id, role, status, created_at, updated_at)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                       " ON CONFLICT (account_id, user_id) DO UPDATE SET"
                       " role = excluded.role, status = excluded.status, updated_at = excluded.updated_at");
        q->bind_all(m.account_id, m.user_id, to_string(m.role), to_string(m.status), now_rfc3339());
        try {
            q->run();
        } catch (const sqlite::Error& e) {
            if (e.is_foreign_key_violation()) throw StoreError("membership: no such account or user");
            throw;
        }
        conn_.record(ChangeKind::membership, ChangeOp::upsert, m.account_id, m.user_id, m.user_id);
    });
}

void MembershipsTable::remove(const std::string& account_id, const std::string& user_id) {
    conn_.write([&] {
        // The foreign key from ssh_keys cascades: the user's keys in this account go too.
        Query q(conn_, "DELETE FROM memberships WHERE account_id = ? AND user_id = ?");
        if (q->bind_all(account_id, user_id).run() > 0)
            conn_.record(ChangeKind::membership, ChangeOp::remove, account_id, user_id, user_id);
    });
}

int MembershipsTable::count_active_owners(const std::string& account_id) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT COUNT(*) FROM memberships"
                       " WHERE account_id = ? AND role = 'owner' AND status = 'active'");
        q->bind(1, account_id);
        return q->step() ? static_cast<int>(q->column_int(0)) : 0;
    });
}

}  // namespace portal::store
