// Memberships: a user's role and status in one account.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keyd/store/types.h"
#include "shared/model.h"

namespace portal::store {

class Connection;

// Which members a listing returns; an empty field does not filter. `search` is a substring of
// the email, name or unix name, compared case-insensitively for ASCII letters (SQL LIKE).
struct MemberFilter {
    std::optional<Role> role;
    std::optional<MemberStatus> status;
    std::optional<std::string> search;
};

class MembershipsTable {
public:
    explicit MembershipsTable(Connection& conn) : conn_(conn) {}

    std::optional<Membership> get(const std::string& account_id, const std::string& user_id);
    // The membership with its user.
    std::optional<AccountUser> account_user(const std::string& account_id, const std::string& user_id);
    std::vector<AccountUser> list(const std::string& account_id, Page page, std::int64_t& total);
    // Only the members that match `filter` (total counts those); in SQL, so a search over a
    // large account reads no more rows than it returns.
    std::vector<AccountUser> list(const std::string& account_id, const MemberFilter& filter, Page page,
                                  std::int64_t& total);
    std::vector<AccountUser> all(const std::string& account_id);
    // The users holding `role` in the account (any status), by user id.
    std::vector<std::string> user_ids_with_role(const std::string& account_id, Role role);
    void put(const Membership& m);  // insert or update role/status
    void remove(const std::string& account_id, const std::string& user_id);
    int count_active_owners(const std::string& account_id);

private:
    std::vector<AccountUser> joined_page(const std::string& account_id, std::int64_t limit, std::int64_t offset);

    Connection& conn_;
};

}  // namespace portal::store
