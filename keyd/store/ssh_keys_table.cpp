#include "keyd/store/ssh_keys_table.h"

#include "keyd/store/connection.h"
#include "keyd/store/rows.h"
#include "keyd/store/timestamp.h"

namespace portal::store {

std::vector<SshKey> SshKeysTable::rows(const std::string& account_id, const std::optional<std::string>& user_id,
                                       std::int64_t limit, std::int64_t offset) {
    std::vector<SshKey> out;
    auto collect = [&](Query& q) {
        while (q->step()) out.push_back(read_key(*q));
    };
    if (user_id) {
        // INDEXED BY: left to itself the planner walks the account's keys in the order index
        // (no sort) instead of the user's few keys (as in login_rows.cpp: 50 ms against 0.1 ms
        // at 10,000 x 3; every manager's key list and every change an agent is sent).
        Query q(conn_, "SELECT " PORTAL_KEY_COLS " FROM ssh_keys k INDEXED BY ssh_keys_account_user"
                       " WHERE k.account_id = ? AND k.user_id = ?"
                       " ORDER BY k.created_at, k.fingerprint LIMIT ? OFFSET ?");
        q->bind_all(account_id, *user_id, limit, offset);
        collect(q);
    } else {
        Query q(conn_, "SELECT " PORTAL_KEY_COLS " FROM ssh_keys k WHERE k.account_id = ?"
                       " ORDER BY k.created_at, k.fingerprint LIMIT ? OFFSET ?");
        q->bind_all(account_id, limit, offset);
        collect(q);
    }
    return out;
}

std::optional<SshKey> SshKeysTable::get(const std::string& account_id, const std::string& fingerprint) {
    return conn_.locked([&]() -> std::optional<SshKey> {
        Query q(conn_, "SELECT " PORTAL_KEY_COLS " FROM ssh_keys k WHERE k.account_id = ? AND k.fingerprint = ?");
        q->bind_all(account_id, fingerprint);
        if (!q->step()) return std::nullopt;
        return read_key(*q);
    });
}

std::vector<SshKey> SshKeysTable::list(const std::string& account_id, const std::optional<std::string>& user_id,
                                       Page page, std::int64_t& total) {
    return conn_.locked([&] {
        if (user_id) {
            Query q(conn_, "SELECT COUNT(*) FROM ssh_keys WHERE account_id = ? AND user_id = ?");
            q->bind_all(account_id, *user_id);
            total = q->step() ? q->column_int(0) : 0;
        } else {
            Query q(conn_, "SELECT COUNT(*) FROM ssh_keys WHERE account_id = ?");
            q->bind(1, account_id);
            total = q->step() ? q->column_int(0) : 0;
        }
        return rows(account_id, user_id, sql_limit(page), sql_offset(page));
    });
}

std::vector<SshKey> SshKeysTable::all(const std::string& account_id) {
    return conn_.locked([&] { return rows(account_id, std::nullopt, -1, 0); });
}

void SshKeysTable::insert(const SshKey& k) {
    conn_.write([&] {
        const std::string now = now_rfc3339();
        Query q(conn_, "INSERT INTO ssh_keys (account_id, user_id, name, fingerprint, fingerprint_sha256,"
                       " public_key, type, bits, labels, created_at, updated_at)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        q->bind_all(k.account_id, k.user_id, k.name, k.fingerprint, k.fingerprint_sha256, k.public_key, k.type,
                    k.bits, labels_to_json(k.labels), now, now);
        try {
            q->run();
        } catch (const sqlite::Error& e) {
            if (e.is_foreign_key_violation()) throw StoreError("ssh key: the user is not a member of the account");
            throw;
        }
        conn_.record(ChangeKind::ssh_key, ChangeOp::upsert, k.account_id, k.user_id, k.fingerprint);
    });
}

void SshKeysTable::update(const SshKey& k) {
    conn_.write([&] {
        Query q(conn_, "UPDATE ssh_keys SET name = ?, labels = ?, updated_at = ?"
                       " WHERE account_id = ? AND fingerprint = ? RETURNING user_id");
        q->bind_all(k.name, labels_to_json(k.labels), now_rfc3339(), k.account_id, k.fingerprint);
        if (!q->step()) throw StoreError("no such ssh key");
        const std::string user_id = q->column_text(0);
        while (q->step()) {
        }
        conn_.record(ChangeKind::ssh_key, ChangeOp::upsert, k.account_id, user_id, k.fingerprint);
    });
}

void SshKeysTable::remove(const std::string& account_id, const std::string& fingerprint) {
    conn_.write([&] {
        Query q(conn_, "DELETE FROM ssh_keys WHERE account_id = ? AND fingerprint = ? RETURNING user_id");
        q->bind_all(account_id, fingerprint);
        while (q->step()) conn_.record(ChangeKind::ssh_key, ChangeOp::remove, account_id, q->column_text(0), fingerprint);
    });
}

void SshKeysTable::remove_of_user(const std::string& account_id, const std::string& user_id) {
    conn_.write([&] {
        Query q(conn_, "DELETE FROM ssh_keys WHERE account_id = ? AND user_id = ? RETURNING fingerprint");
        q->bind_all(account_id, user_id);
        while (q->step()) conn_.record(ChangeKind::ssh_key, ChangeOp::remove, account_id, user_id, q->column_text(0));
    });
}

}  // namespace portal::store
