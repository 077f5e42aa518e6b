// The login path's view of an account (keyd/login/login_view.h): only the columns it needs,
// one query per table, no per-row JSON, so 10,000 members x 3 keys load in milliseconds.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/model.h"

namespace portal::store {

class Connection;

struct LoginMemberRow {
    std::string user_id, unix_name;
    std::uint32_t uid = 0;
    Role role = Role::manager;
    MemberStatus status = MemberStatus::active;
    bool tfa_enabled = false;
    // Support memberships: the account's support access expiry (unix seconds), the end of
    // the window in which the member may log in; nullopt for other roles (and for a support
    // membership of an account whose access has no readable expiry: refused).
    std::optional<std::int64_t> access_until;
};
struct LoginKeyRow {
    std::string user_id, name, public_key, fingerprint_sha256;
};

class LoginRows {
public:
    explicit LoginRows(Connection& conn) : conn_(conn) {}

    std::vector<LoginMemberRow> members(const std::string& account_id);  // ordered by unix_name
    std::vector<LoginKeyRow> keys(const std::string& account_id);        // in the order they were added
    // One member, for applying a change (keyd/login/login_view.h): point reads by primary key.
    std::optional<LoginMemberRow> member(const std::string& account_id, const std::string& user_id);
    std::vector<LoginKeyRow> keys_of(const std::string& account_id, const std::string& user_id);

private:
    Connection& conn_;
};

}  // namespace portal::store
