// The authority's embedded store: SQLite in WAL mode, versioned migrations, every write
// in one transaction. One table class per resource (accounts, users, memberships, SSH keys,
// 2FA; the login view's lean rows), all on one connection (connection.h). API handlers reach
// it only through the IAM services (keyd/iam/services.h), so agent mode can supply the same
// services against a remote portal.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>

#include "keyd/store/accounts_table.h"
#include "keyd/store/api_tokens_table.h"
#include "keyd/store/change_log.h"
#include "keyd/store/contacts_table.h"
#include "keyd/store/hosts_table.h"
#include "keyd/store/ip_allowlist_table.h"
#include "keyd/store/login_rows.h"
#include "keyd/store/memberships_table.h"
#include "keyd/store/notifications_table.h"
#include "keyd/store/sessions_table.h"
#include "keyd/store/ssh_keys_table.h"
#include "keyd/store/support_table.h"
#include "keyd/store/tickets_table.h"
#include "keyd/store/tfa_table.h"
#include "keyd/store/types.h"
#include "keyd/store/users_table.h"

namespace portal::store {

class Connection;

class Store {
public:
    // Opens (creating if needed, mode 0600, parent 0700) and migrates to the newest schema.
    static std::unique_ptr<Store> open(const std::filesystem::path& db_path, UidRange uids = {},
                                       LocalAccounts local = {});
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // Runs f inside BEGIN IMMEDIATE ... COMMIT; rolls back and rethrows if f throws.
    // Every write goes through here; nested calls join the outer transaction.
    void transaction(const std::function<void()>& f);
    // Runs f with the store to itself: no write of this process (any thread) lands between
    // its reads, so they see one revision. (Only the daemon writes the database.)
    void read(const std::function<void()>& f);

    int schema_version();
    // Monotonic revision of the IAM state, bumped by every write transaction that changed it.
    std::uint64_t revision();
    // What each revision changed (change_log.h), and how long that is kept. `now_seconds`
    // (tests) replaces the clock that stamps and ages the log.
    ChangeLog& changes() { return changes_; }
    void set_change_log_retention(const ChangeLogRetention& r, std::function<std::int64_t()> now_seconds = {});

    AccountsTable& accounts() { return accounts_; }
    UsersTable& users() { return users_; }  // global identities
    MembershipsTable& memberships() { return memberships_; }
    SshKeysTable& ssh_keys() { return ssh_keys_; }
    TfaTable& tfa() { return tfa_; }
    LoginRows& login_rows() { return login_rows_; }
    ApiTokensTable& api_tokens() { return api_tokens_; }
    HostsTable& hosts() { return hosts_; }
    SessionsTable& sessions() { return sessions_; }
    IpAllowlistTable& ip_allowlist() { return ip_allowlist_; }
    ContactsTable& contacts() { return contacts_; }    // not IAM state: no revision
    TicketsTable& tickets() { return tickets_; }       // not IAM state: no revision
    SupportTable& support() { return support_; }       // support staff and access grants
    NotificationsTable& notifications() { return notifications_; }  // not IAM state: no revision

private:
    Store(std::unique_ptr<Connection> conn, UidRange uids, LocalAccounts local);

    std::unique_ptr<Connection> conn_;  // first: the tables refer to it
    AccountsTable accounts_;
    UsersTable users_;
    MembershipsTable memberships_;
    SshKeysTable ssh_keys_;
    TfaTable tfa_;
    LoginRows login_rows_;
    ApiTokensTable api_tokens_;
    HostsTable hosts_;
    SessionsTable sessions_;
    IpAllowlistTable ip_allowlist_;
    ContactsTable contacts_;
    TicketsTable tickets_;
    SupportTable support_;
    NotificationsTable notifications_;
    ChangeLog changes_;
};

}  // namespace portal::store
