// Users: the global identities (email, name, unix name, uid); memberships tie them to accounts.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "keyd/store/types.h"
#include "shared/model.h"

namespace portal::store {

class Connection;

struct UidRange {
    std::uint32_t first = 200000;
    std::uint32_t last = 299999;
};

// Names and uids this machine already uses outside the portal (/etc/passwd, LDAP...): the
// allocator skips them, so a new member never shares a local account's uid or name (and is
// not refused publication on the authority's own machine). Empty functions: nothing is taken.
struct LocalAccounts {
    std::function<bool(std::uint32_t uid)> uid_taken;
    std::function<bool(const std::string& name)> name_taken;
    // getpwuid/getpwnam through NSS.
    static LocalAccounts from_passwd();
};

class UsersTable {
public:
    UsersTable(Connection& conn, UidRange uids, LocalAccounts local)
        : conn_(conn), uids_(uids), local_(std::move(local)) {}

    std::optional<User> get(const std::string& id);
    std::optional<User> by_uid(std::uint32_t uid);
    std::optional<User> by_email(const std::string& email);
    // Assigns id, a unique unix_name (shared/unix_name.h) and the next free uid; both skip
    // what LocalAccounts reports taken.
    User create(const std::string& email, const std::string& name);
    void update(const User& u);  // email, name, last_login; unix_name/uid never change
    // Only the last_login columns, for a batch of users in one transaction (the login path's
    // session events); users that no longer exist are skipped.
    void record_logins(const std::vector<std::pair<std::string, LastLogin>>& logins);
    void remove(const std::string& id);  // and everything that hangs off it

private:
    std::uint32_t allocate_uid();

    Connection& conn_;
    UidRange uids_;
    LocalAccounts local_;
};

}  // namespace portal::store
