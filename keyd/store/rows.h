// Column lists and row readers shared by the tables (internal to keyd/store). A reader
// takes the statement and the index of the list's first column, so joined rows can be
// read list after list.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include "keyd/store/sqlite.h"
#include "keyd/store/types.h"
#include "shared/model.h"

// Macros, not constants: they are pasted into SQL string literals.
#define PORTAL_ACCOUNT_COLS "a.id, a.name, a.enforce_2fa, a.created_at, a.updated_at"
#define PORTAL_USER_COLS                                                                              \
    "u.id, u.email, u.name, u.unix_name, u.uid, u.tfa_enabled, u.last_login_at, u.last_login_ip, " \
    "u.last_login_host, u.last_login_method, u.last_login_status, u.created_at, u.updated_at"
#define PORTAL_MEMBER_COLS "m.account_id, m.user_id, m.role, m.status, m.created_at, m.updated_at"
#define PORTAL_KEY_COLS                                                                                   \
    "k.account_id, k.user_id, k.name, k.fingerprint, k.fingerprint_sha256, k.public_key, k.type, k.bits, " \
    "k.labels, k.created_at, k.updated_at"

namespace portal::store {

constexpr int kAccountCols = 5;
constexpr int kUserCols = 13;

Account read_account(const sqlite::Statement& s, int c = 0);
Role read_role(const sqlite::Statement& s, int c);
MemberStatus read_member_status(const sqlite::Statement& s, int c);
User read_user(const sqlite::Statement& s, int c = 0);
Membership read_membership(const sqlite::Statement& s, int c = 0);
// PORTAL_USER_COLS, PORTAL_MEMBER_COLS
AccountUser read_account_user(const sqlite::Statement& s);
SshKey read_key(const sqlite::Statement& s);

std::string labels_to_json(const std::map<std::string, std::string>& labels);
std::map<std::string, std::string> labels_from_json(const std::string& text);

// SQLite: a negative LIMIT means no limit.
inline std::int64_t sql_limit(const Page& p) { return p.limit < 0 ? -1 : p.limit; }
inline std::int64_t sql_offset(const Page& p) { return std::max<std::int64_t>(p.offset, 0); }

}  // namespace portal::store
