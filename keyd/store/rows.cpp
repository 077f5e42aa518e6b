#include "keyd/store/rows.h"

#include <nlohmann/json.hpp>

namespace portal::store {

using sqlite::Statement;

Account read_account(const Statement& s, int c) {
    Account a;
    a.id = s.column_text(c + 0);
    a.name = s.column_text(c + 1);
    a.enforce_2fa = s.column_bool(c + 2);
    a.created_at = s.column_text(c + 3);
    a.updated_at = s.column_text(c + 4);
    return a;
}

Role read_role(const Statement& s, int c) {
    auto r = parse_role(s.column_text(c));
    if (!r) throw StoreError("corrupt store: unknown role");
    return *r;
}

MemberStatus read_member_status(const Statement& s, int c) {
    auto st = parse_member_status(s.column_text(c));
    if (!st) throw StoreError("corrupt store: unknown membership status");
    return *st;
}

User read_user(const Statement& s, int c) {
    User u;
    u.id = s.column_text(c + 0);
    u.email = s.column_text(c + 1);
    u.name = s.column_text(c + 2);
    u.unix_name = s.column_text(c + 3);
    u.uid = static_cast<std::uint32_t>(s.column_int(c + 4));
    u.tfa_enabled = s.column_bool(c + 5);
    if (!s.is_null(c + 6)) {
        u.last_login = LastLogin{s.column_text(c + 6), s.column_text(c + 7), s.column_text(c + 8),
                                 s.column_text(c + 9), s.column_text(c + 10)};
    }
    u.created_at = s.column_text(c + 11);
    u.updated_at = s.column_text(c + 12);
    return u;
}

Membership read_membership(const Statement& s, int c) {
    Membership m;
    m.account_id = s.column_text(c + 0);
    m.user_id = s.column_text(c + 1);
    m.role = read_role(s, c + 2);
    m.status = read_member_status(s, c + 3);
    m.created_at = s.column_text(c + 4);
    m.updated_at = s.column_text(c + 5);
    return m;
}

AccountUser read_account_user(const Statement& s) {
    return AccountUser{read_user(s, 0), read_membership(s, kUserCols)};
}

std::string labels_to_json(const std::map<std::string, std::string>& labels) {
    try {
        return nlohmann::json(labels).dump();
    } catch (const nlohmann::json::exception& e) {
        throw StoreError(std::string("labels cannot be stored: ") + e.what());
    }
}

std::map<std::string, std::string> labels_from_json(const std::string& text) {
    try {
        return nlohmann::json::parse(text).get<std::map<std::string, std::string>>();
    } catch (const nlohmann::json::exception& e) {
        throw StoreError(std::string("corrupt store: ssh key labels: ") + e.what());
    }
}

SshKey read_key(const Statement& s) {
    SshKey k;
    k.account_id = s.column_text(0);
    k.user_id = s.column_text(1);
    k.name = s.column_text(2);
    k.fingerprint = s.column_text(3);
    k.fingerprint_sha256 = s.column_text(4);
    k.public_key = s.column_text(5);
    k.type = s.column_text(6);
    k.bits = static_cast<int>(s.column_int(7));
    k.labels = labels_from_json(s.column_text(8));
    k.created_at = s.column_text(9);
    k.updated_at = s.column_text(10);
    return k;
}

}  // namespace portal::store
