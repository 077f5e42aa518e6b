#include "keyd/store/ip_allowlist_table.h"

#include "keyd/store/connection.h"

namespace portal::store {

IpAllowlist IpAllowlistTable::of_account(const std::string& account_id) {
    return conn_.locked([&] {
        IpAllowlist out;
        Query a(conn_, "SELECT active FROM ip_allowlists WHERE account_id = ?");
        a->bind(1, account_id);
        out.active = a->step() && a->column_bool(0);
        Query q(conn_, "SELECT id, cidr, comment, created_at, updated_at FROM ip_allowlist_entries"
                       " WHERE account_id = ? ORDER BY created_at, id");
        q->bind(1, account_id);
        while (q->step())
            out.entries.push_back({q->column_text(0), q->column_text(1), q->column_text(2), q->column_text(3),
                                   q->column_text(4)});
        return out;
    });
}

void IpAllowlistTable::set_active(const std::string& account_id, bool active, const std::string& at) {
    conn_.write([&] {
        Query q(conn_, "INSERT INTO ip_allowlists (account_id, active, updated_at) VALUES (?, ?, ?)"
                       " ON CONFLICT (account_id) DO UPDATE SET active = excluded.active, updated_at = excluded.updated_at");
        q->bind_all(account_id, active ? 1 : 0, at);
        q->run();
        conn_.record(ChangeKind::account, ChangeOp::upsert, account_id, "", account_id);
    });
}

void IpAllowlistTable::insert(const std::string& account_id, const IpAllowlistEntry& e) {
    conn_.write([&] {
        Query q(conn_, "INSERT INTO ip_allowlist_entries (id, account_id, cidr, comment, created_at, updated_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)");
        q->bind_all(e.id, account_id, e.cidr, e.comment, e.created_at, e.updated_at);
        q->run();
        conn_.record(ChangeKind::account, ChangeOp::upsert, account_id, "", account_id);
    });
}

bool IpAllowlistTable::update(const std::string& account_id, const IpAllowlistEntry& e) {
    bool found = false;
    conn_.write([&] {
        Query q(conn_, "UPDATE ip_allowlist_entries SET cidr = ?, comment = ?, updated_at = ?"
                       " WHERE account_id = ? AND id = ? RETURNING id");
        q->bind_all(e.cidr, e.comment, e.updated_at, account_id, e.id);
        found = q->step();
        if (found) conn_.record(ChangeKind::account, ChangeOp::upsert, account_id, "", account_id);
    });
    return found;
}

bool IpAllowlistTable::remove(const std::string& account_id, const std::string& id) {
    bool found = false;
    conn_.write([&] {
        Query q(conn_, "DELETE FROM ip_allowlist_entries WHERE account_id = ? AND id = ? RETURNING id");
        q->bind_all(account_id, id);
        found = q->step();
        if (found) conn_.record(ChangeKind::account, ChangeOp::upsert, account_id, "", account_id);
    });
    return found;
}

}  // namespace portal::store
