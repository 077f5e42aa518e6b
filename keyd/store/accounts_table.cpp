#include "keyd/store/accounts_table.h"

#include "keyd/store/connection.h"
#include "keyd/store/rows.h"
#include "keyd/store/timestamp.h"
#include "shared/random.h"

namespace portal::store {

std::optional<Account> AccountsTable::get(const std::string& id) {
    return conn_.locked([&]() -> std::optional<Account> {
        Query q(conn_, "SELECT " PORTAL_ACCOUNT_COLS " FROM accounts a WHERE a.id = ?");
        q->bind(1, id);
        if (!q->step()) return std::nullopt;
        return read_account(*q);
    });
}

std::vector<Account> AccountsTable::all() {
    return conn_.locked([&] {
        Query q(conn_, "SELECT " PORTAL_ACCOUNT_COLS " FROM accounts a ORDER BY a.created_at, a.rowid");
        std::vector<Account> out;
        while (q->step()) out.push_back(read_account(*q));
        return out;
    });
}

std::vector<AccountWithRole> AccountsTable::of_user(const std::string& user_id) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT " PORTAL_ACCOUNT_COLS ", m.role, m.status FROM memberships m"
                       " JOIN accounts a ON a.id = m.account_id WHERE m.user_id = ?"
                       " ORDER BY m.created_at, a.rowid");
        q->bind(1, user_id);
        std::vector<AccountWithRole> out;
        while (q->step()) {
            MemberStatus st = read_member_status(*q, kAccountCols + 1);
            out.push_back(AccountWithRole{read_account(*q), read_role(*q, kAccountCols), st});
        }
        return out;
    });
}

Account AccountsTable::create(const std::string& name) {
    Account a;
    conn_.write([&] {
        a = Account{};
        a.id = random_id("acc_");
        a.name = name;
        a.created_at = a.updated_at = now_rfc3339();
        Query q(conn_, "INSERT INTO accounts (id, name, enforce_2fa, created_at, updated_at)"
                       " VALUES (?, ?, ?, ?, ?)");
        q->bind_all(a.id, a.name, a.enforce_2fa, a.created_at, a.updated_at).run();
        conn_.record(ChangeKind::account, ChangeOp::upsert, a.id, "", a.id);
    });
    return a;
}

void AccountsTable::update(const Account& a) {
    conn_.write([&] {
        Query q(conn_, "UPDATE accounts SET name = ?, enforce_2fa = ?, updated_at = ? WHERE id = ?");
        if (q->bind_all(a.name, a.enforce_2fa, now_rfc3339(), a.id).run() == 0) {
            throw StoreError("no such account");
        }
        conn_.record(ChangeKind::account, ChangeOp::upsert, a.id, "", a.id);
    });
}

}  // namespace portal::store
