#include "keyd/store/support_table.h"

#include "keyd/store/connection.h"
#include "keyd/store/timestamp.h"

namespace portal::store {
namespace {

std::vector<std::string> texts(Query& q) {
    std::vector<std::string> out;
    while (q->step()) out.push_back(q->column_text(0));
    return out;
}

}  // namespace

std::optional<StoredSupportAccess> SupportTable::access(const std::string& account_id) {
    return conn_.locked([&]() -> std::optional<StoredSupportAccess> {
        Query q(conn_, "SELECT enabled, granted_by, granted_at, expires_at FROM support_access WHERE account_id = ?");
        q->bind(1, account_id);
        if (!q->step()) return std::nullopt;
        return StoredSupportAccess{account_id, q->column_bool(0), q->column_optional_text(1),
                                   q->column_optional_text(2), q->column_optional_text(3)};
    });
}

void SupportTable::set_access(const StoredSupportAccess& a) {
    conn_.write([&] {
        Query q(conn_, "INSERT INTO support_access (account_id, enabled, granted_by, granted_at, expires_at, updated_at)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (account_id) DO UPDATE SET"
                       " enabled = excluded.enabled, granted_by = excluded.granted_by,"
                       " granted_at = excluded.granted_at, expires_at = excluded.expires_at,"
                       " updated_at = excluded.updated_at");
        q->bind_all(a.account_id, a.enabled ? 1 : 0, a.granted_by, a.granted_at, a.expires_at, now_rfc3339());
        q->run();
        conn_.record(ChangeKind::account, ChangeOp::upsert, a.account_id, "", a.account_id);
    });
}

std::vector<std::string> SupportTable::expired_accounts(const std::string& now) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT account_id FROM support_access WHERE enabled = 1 AND expires_at <= ?"
                       " ORDER BY expires_at, account_id");
        q->bind(1, now);
        return texts(q);
    });
}

std::vector<std::string> SupportTable::granted_accounts(const std::string& now) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT account_id FROM support_access WHERE enabled = 1 AND expires_at > ? ORDER BY account_id");
        q->bind(1, now);
        return texts(q);
    });
}

std::optional<std::string> SupportTable::next_expiry() {
    return conn_.locked([&] {
        Query q(conn_, "SELECT min(expires_at) FROM support_access WHERE enabled = 1");
        return q->step() ? q->column_optional_text(0) : std::nullopt;
    });
}

std::vector<SupportStaffMember> SupportTable::staff() {
    return conn_.locked([&] {
        Query q(conn_, "SELECT u.id, u.email, u.name, u.unix_name, s.marked_at FROM support_staff s"
                       " JOIN users u ON u.id = s.user_id ORDER BY u.email COLLATE NOCASE, u.id");
        std::vector<SupportStaffMember> out;
        while (q->step())
            out.push_back({q->column_text(0), q->column_text(1), q->column_text(2), q->column_text(3), q->column_text(4)});
        return out;
    });
}

std::vector<std::string> SupportTable::staff_ids() {
    return conn_.locked([&] {
        Query q(conn_, "SELECT user_id FROM support_staff ORDER BY user_id");
        return texts(q);
    });
}

bool SupportTable::is_staff(const std::string& user_id) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT 1 FROM support_staff WHERE user_id = ?");
        q->bind(1, user_id);
        return q->step();
    });
}

bool SupportTable::mark_staff(const std::string& user_id, const std::string& at) {
    bool added = false;
    conn_.write([&] {
        Query q(conn_, "INSERT INTO support_staff (user_id, marked_at) VALUES (?, ?) ON CONFLICT DO NOTHING");
        added = q->bind_all(user_id, at).run() > 0;
        if (added) conn_.record(ChangeKind::user, ChangeOp::upsert, "", user_id, user_id);
    });
    return added;
}

bool SupportTable::unmark_staff(const std::string& user_id) {
    bool removed = false;
    conn_.write([&] {
        Query q(conn_, "DELETE FROM support_staff WHERE user_id = ?");
        removed = q->bind(1, user_id).run() > 0;
        if (removed) conn_.record(ChangeKind::user, ChangeOp::upsert, "", user_id, user_id);
    });
    return removed;
}

}  // namespace portal::store
