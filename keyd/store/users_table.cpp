#include "keyd/store/users_table.h"

#include <pwd.h>

#include <algorithm>
#include <string_view>

#include "keyd/store/connection.h"
#include "keyd/store/rows.h"
#include "keyd/store/timestamp.h"
#include "shared/random.h"
#include "shared/unix_name.h"

namespace portal::store {

namespace {

std::optional<User> user_where(Connection& conn, std::string_view sql, auto&&... args) {
    return conn.locked([&]() -> std::optional<User> {
        Query q(conn, sql);
        q->bind_all(args...);
        if (!q->step()) return std::nullopt;
        return read_user(*q);
    });
}

}  // namespace

LocalAccounts LocalAccounts::from_passwd() {
    LocalAccounts l;
    l.uid_taken = [](std::uint32_t uid) { return ::getpwuid(static_cast<uid_t>(uid)) != nullptr; };
    l.name_taken = [](const std::string& name) { return ::getpwnam(name.c_str()) != nullptr; };
    return l;
}

std::optional<User> UsersTable::get(const std::string& id) {
    return user_where(conn_, "SELECT " PORTAL_USER_COLS " FROM users u WHERE u.id = ?", id);
}

std::optional<User> UsersTable::by_uid(std::uint32_t uid) {
    return user_where(conn_, "SELECT " PORTAL_USER_COLS " FROM users u WHERE u.uid = ?", uid);
}

std::optional<User> UsersTable::by_email(const std::string& email) {
    return user_where(conn_, "SELECT " PORTAL_USER_COLS " FROM users u WHERE u.email = ? COLLATE NOCASE", email);
}

// Never hands out a uid that was used before (the high-water mark survives
// remove): files a removed user left on servers must not pass to a newcomer.
std::uint32_t UsersTable::allocate_uid() {
    const auto first = static_cast<std::int64_t>(uids_.first);
    const auto last = static_cast<std::int64_t>(uids_.last);
    std::int64_t candidate = first;
    {
        Query q(conn_, "SELECT MAX(uid) FROM users WHERE uid BETWEEN ? AND ?");
        q->bind_all(first, last);
        if (q->step() && !q->is_null(0)) candidate = std::max(candidate, q->column_int(0) + 1);
    }
    std::int64_t high = conn_.meta_int("uid_high_water");
    if (high >= first && high <= last) candidate = std::max(candidate, high + 1);
    if (local_.uid_taken)
        while (candidate <= last && local_.uid_taken(static_cast<std::uint32_t>(candidate))) ++candidate;
    if (candidate > last) throw StoreError("uid range exhausted");
    Query q(conn_, "UPDATE meta SET value = ? WHERE key = 'uid_high_water'");
    q->bind(1, candidate).run();
    return static_cast<std::uint32_t>(candidate);
}

User UsersTable::create(const std::string& email, const std::string& name) {
    User u;
    conn_.write([&] {
        u = User{};
        u.email = email;
        u.name = name;
        u.unix_name = derive_unix_name(email, [&](std::string_view candidate) {
            Query q(conn_, "SELECT 1 FROM users WHERE unix_name = ?");
            q->bind(1, candidate);
            if (q->step()) return true;
            return local_.name_taken && local_.name_taken(std::string(candidate));
        });
        u.uid = allocate_uid();
        u.id = random_id("usr_");
        u.created_at = u.updated_at = now_rfc3339();
        Query q(conn_, "INSERT INTO users (id, email, name, unix_name, uid, tfa_enabled, created_at, updated_at)"
                       " VALUES (?, ?, ?, ?, ?, 0, ?, ?)");
        q->bind_all(u.id, u.email, u.name, u.unix_name, u.uid, u.created_at, u.updated_at).run();
        conn_.record(ChangeKind::user, ChangeOp::upsert, "", u.id, u.id);
    });
    return u;
}

void UsersTable::update(const User& u) {
    conn_.write([&] {
        // updated_at tracks profile edits; recording a login does not count as one.
        Query q(conn_,
                "UPDATE users SET email = ?1, name = ?2, last_login_at = ?3, last_login_ip = ?4,"
                " last_login_host = ?5, last_login_method = ?6, last_login_status = ?7,"
                " updated_at = CASE WHEN email IS NOT ?1 OR name IS NOT ?2 THEN ?8 ELSE updated_at END"
                " WHERE id = ?9");
        q->bind(1, u.email).bind(2, u.name);
        if (u.last_login) {
            const LastLogin& l = *u.last_login;
            q->bind(3, l.at).bind(4, l.ip).bind(5, l.host).bind(6, l.method).bind(7, l.status);
        } else {
            for (int i = 3; i <= 7; ++i) q->bind(i, nullptr);
        }
        q->bind(8, now_rfc3339()).bind(9, u.id);
        if (q->run() == 0) throw StoreError("no such user");
        conn_.record(ChangeKind::user, ChangeOp::upsert, "", u.id, u.id);
    });
}

void UsersTable::record_logins(const std::vector<std::pair<std::string, LastLogin>>& logins) {
    conn_.write([&] {
        Query q(conn_, "UPDATE users SET last_login_at = ?, last_login_ip = ?, last_login_host = ?,"
                       " last_login_method = ?, last_login_status = ? WHERE id = ?");
        for (const auto& [id, l] : logins) {
            q->bind_all(l.at, l.ip, l.host, l.method, l.status, id);
            if (q->run() > 0) conn_.record(ChangeKind::user, ChangeOp::upsert, "", id, id);
            q->reset();
        }
    });
}

void UsersTable::remove(const std::string& id) {
    conn_.write([&] {
        // Foreign keys cascade: memberships -> ssh_keys, tfa, recovery codes. One change says
        // it all: a consumer drops whatever it holds of the user.
        Query q(conn_, "DELETE FROM users WHERE id = ?");
        if (q->bind(1, id).run() > 0) conn_.record(ChangeKind::user, ChangeOp::remove, "", id, id);
    });
}

}  // namespace portal::store
