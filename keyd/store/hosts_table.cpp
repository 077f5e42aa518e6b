#include "keyd/store/hosts_table.h"

#include "keyd/store/connection.h"
#include "keyd/store/rows.h"

namespace portal::store {
namespace {

#define PORTAL_HOST_COLS "id, account_id, hostname, labels, version, created_at, last_seen_at, revision"

Host read_host(const sqlite::Statement& s) {
    Host h;
    h.id = s.column_text(0);
    h.account_id = s.column_text(1);
    h.hostname = s.column_text(2);
    h.labels = labels_from_json(s.column_text(3));
    h.version = s.column_text(4);
    h.created_at = s.column_text(5);
    h.last_seen_at = s.column_optional_text(6);
    h.revision = static_cast<std::uint64_t>(s.column_int(7));
    return h;
}

}  // namespace

void HostsTable::insert_enrolment(const HostEnrolment& e, const std::string& secret_hash) {
    conn_.write_untracked([&] {
        Query q(conn_, "INSERT INTO host_enrolments (id, account_id, secret_hash, name, labels, created_at, expires_at)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)");
        q->bind(1, e.id);
        q->bind(2, e.account_id);
        q->bind_blob(3, secret_hash);
        q->bind(4, e.name);
        q->bind(5, labels_to_json(e.labels));
        q->bind(6, e.created_at);
        q->bind(7, e.expires_at);
        q->run();
    });
}

std::optional<Host> HostsTable::register_host(const std::string& enrolment_hash, const std::string& now, Host host,
                                              const std::string& host_secret_hash) {
    std::optional<Host> out;
    conn_.write_untracked([&] {
        Query use(conn_, "DELETE FROM host_enrolments WHERE secret_hash = ? RETURNING account_id, labels, expires_at");
        use->bind_blob(1, enrolment_hash);
        if (!use->step()) return;
        const std::string account_id = use->column_text(0);
        const auto labels = labels_from_json(use->column_text(1));
        const std::string expires_at = use->column_text(2);
        use->step();  // finish the statement: the row is gone whatever happens next
        if (expires_at <= now) return;  // expired: consumed all the same (it is dead anyway)
        host.account_id = account_id;
        if (host.labels.empty()) host.labels = labels;
        Query ins(conn_, "INSERT INTO hosts (id, account_id, hostname, labels, version, secret_hash, created_at)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)");
        ins->bind(1, host.id);
        ins->bind(2, host.account_id);
        ins->bind(3, host.hostname);
        ins->bind(4, labels_to_json(host.labels));
        ins->bind(5, host.version);
        ins->bind_blob(6, host_secret_hash);
        ins->bind(7, host.created_at);
        ins->run();
        out = host;
    });
    return out;
}

std::vector<Host> HostsTable::of_account(const std::string& account_id) {
    return conn_.locked([&] {
        std::vector<Host> out;
        Query q(conn_, "SELECT " PORTAL_HOST_COLS " FROM hosts WHERE account_id = ? ORDER BY created_at, id");
        q->bind(1, account_id);
        while (q->step()) out.push_back(read_host(*q));
        return out;
    });
}

std::optional<Host> HostsTable::get(const std::string& account_id, const std::string& id) {
    return conn_.locked([&]() -> std::optional<Host> {
        Query q(conn_, "SELECT " PORTAL_HOST_COLS " FROM hosts WHERE account_id = ? AND id = ?");
        q->bind_all(account_id, id);
        if (!q->step()) return std::nullopt;
        return read_host(*q);
    });
}

std::optional<Host> HostsTable::by_hash(const std::string& secret_hash) {
    return conn_.locked([&]() -> std::optional<Host> {
        Query q(conn_, "SELECT " PORTAL_HOST_COLS " FROM hosts WHERE secret_hash = ?");
        q->bind_blob(1, secret_hash);
        if (!q->step()) return std::nullopt;
        return read_host(*q);
    });
}

bool HostsTable::remove(const std::string& account_id, const std::string& id) {
    bool removed = false;
    conn_.write_untracked([&] {
        Query q(conn_, "DELETE FROM hosts WHERE account_id = ? AND id = ? RETURNING id");
        q->bind_all(account_id, id);
        removed = q->step();
    });
    return removed;
}

void HostsTable::seen(const std::string& id, const std::string& at, std::uint64_t revision) {
    conn_.write_untracked([&] {
        Query q(conn_, "UPDATE hosts SET last_seen_at = ?, revision = ? WHERE id = ?"
                       " AND (last_seen_at IS NULL OR substr(last_seen_at, 1, 16) < substr(?, 1, 16) OR revision != ?)");
        q->bind_all(at, static_cast<std::int64_t>(revision), id, at, static_cast<std::int64_t>(revision));
        q->run();
    });
}

std::vector<bool> HostsTable::add_login_events(const std::vector<LoginEvent>& events) {
    std::vector<bool> added;
    conn_.write_untracked([&] {
        for (const auto& e : events) {
            Query q(conn_, "INSERT INTO login_events (host_id, id, account_id, at, unix_name, user_id, ip, method,"
                           " decision, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id");
            q->bind_all(e.host_id, e.id, e.account_id, e.at, e.unix_name, e.user_id, e.ip, e.method, e.decision, e.reason);
            added.push_back(q->step());
        }
    });
    return added;
}

std::vector<LoginEvent> HostsTable::login_events(const std::string& account_id, std::int64_t offset,
                                                 std::int64_t limit, std::int64_t& total) {
    return conn_.locked([&] {
        Query count(conn_, "SELECT COUNT(*) FROM login_events WHERE account_id = ?");
        count->bind(1, account_id);
        total = count->step() ? count->column_int(0) : 0;
        std::vector<LoginEvent> out;
        Query q(conn_, "SELECT host_id, id, account_id, at, unix_name, user_id, ip, method, decision, reason"
                       " FROM login_events WHERE account_id = ? ORDER BY at DESC, host_id, id LIMIT ? OFFSET ?");
        q->bind_all(account_id, limit, offset);
        while (q->step()) {
            LoginEvent e;
            e.host_id = q->column_text(0);
            e.id = q->column_text(1);
            e.account_id = q->column_text(2);
            e.at = q->column_text(3);
            e.unix_name = q->column_text(4);
            e.user_id = q->column_optional_text(5);
            e.ip = q->column_text(6);
            e.method = q->column_text(7);
            e.decision = q->column_text(8);
            e.reason = q->column_text(9);
            out.push_back(std::move(e));
        }
        return out;
    });
}

}  // namespace portal::store
