// The authority's embedded store: SQLite in WAL mode, versioned migrations, every write
// in one transaction. Handlers reach it only through IamState (keyd/state/iam_state.h),
// so a remote portal can supply the same state in agent mode.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/model.h"

namespace portal::store {

// A unique constraint was violated; `field` names the API field that collided.
struct Conflict : std::runtime_error {
    std::string field;
    Conflict(std::string f, const std::string& what) : std::runtime_error(what), field(std::move(f)) {}
};
// Anything else SQLite refused (I/O, corruption, busy past the timeout).
struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

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

// Per-user TOTP state. Secrets are stored only as ciphertext (keyd/tfa/secret_box.h).
struct TfaRecord {
    bool enabled = false;
    std::string secret_ciphertext;          // confirmed secret, empty when not enrolled
    std::string pending_ciphertext;         // enrolment started, not yet confirmed
    std::string pending_expires_at;         // RFC 3339
    std::int64_t last_accepted_step = -1;   // high-water mark: no code is accepted twice
    std::vector<std::string> recovery_code_hashes;  // unused ones only
};

// Which members a listing returns; an empty field does not filter. `search` is a substring of
// the email, name or unix name, compared case-insensitively for ASCII letters (SQL LIKE).
struct MemberFilter {
    std::optional<Role> role;
    std::optional<MemberStatus> status;
    std::optional<std::string> search;
};

// A user's recent failed second-factor attempts and lock (keyd/tfa/failure_limiter.h), in
// unix milliseconds. Empty failures and no lock: nothing to remember (the row is deleted).
struct TfaFailureState {
    std::vector<std::int64_t> failures_ms;
    std::optional<std::int64_t> locked_until_ms;
};

struct Page {
    std::int64_t offset = 0;
    std::int64_t limit = 20;
};

struct AccountWithRole {
    Account account;
    Role role;
    MemberStatus status = MemberStatus::active;
};

// The login path's view of an account (keyd/login/login_view.h): only the columns it needs,
// one query per table, no per-row JSON, so 10,000 members x 3 keys load in milliseconds.
struct LoginMemberRow {
    std::string user_id, unix_name;
    std::uint32_t uid = 0;
    Role role = Role::manager;
    MemberStatus status = MemberStatus::active;
    bool tfa_enabled = false;
};
struct LoginKeyRow {
    std::string user_id, name, public_key, fingerprint_sha256;
};

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

    int schema_version();
    // Monotonic revision of the IAM state, bumped by every write transaction that changed it.
    std::uint64_t revision();

    // Accounts
    std::optional<Account> account(const std::string& id);
    std::vector<Account> all_accounts();
    // Every membership of the user (any status), oldest first.
    std::vector<AccountWithRole> accounts_of_user(const std::string& user_id);
    Account create_account(const std::string& name);
    void update_account(const Account& a);  // name, enforce_2fa

    // Users (global identities)
    std::optional<User> user(const std::string& id);
    std::optional<User> user_by_uid(std::uint32_t uid);
    std::optional<User> user_by_email(const std::string& email);
    // Assigns id, a unique unix_name (shared/unix_name.h) and the next free uid; both skip
    // what LocalAccounts reports taken.
    User create_user(const std::string& email, const std::string& name);
    void update_user(const User& u);  // email, name, last_login; unix_name/uid never change
    void delete_user(const std::string& id);  // and everything that hangs off it

    // Memberships
    std::optional<Membership> membership(const std::string& account_id, const std::string& user_id);
    std::optional<AccountUser> account_user(const std::string& account_id, const std::string& user_id);
    std::vector<AccountUser> account_users(const std::string& account_id, Page page, std::int64_t& total);
    // Only the members that match `filter` (total counts those); in SQL, so a search over a
    // large account reads no more rows than it returns.
    std::vector<AccountUser> account_users(const std::string& account_id, const MemberFilter& filter, Page page,
                                           std::int64_t& total);
    std::vector<AccountUser> all_account_users(const std::string& account_id);
    void put_membership(const Membership& m);  // insert or update role/status
    void delete_membership(const std::string& account_id, const std::string& user_id);
    int count_active_owners(const std::string& account_id);

    // SSH keys (scoped by account; fingerprint is the MD5 id)
    std::optional<SshKey> ssh_key(const std::string& account_id, const std::string& fingerprint);
    std::vector<SshKey> ssh_keys(const std::string& account_id, const std::optional<std::string>& user_id,
                                 Page page, std::int64_t& total);
    std::vector<SshKey> all_ssh_keys(const std::string& account_id);
    void insert_ssh_key(const SshKey& k);  // Conflict("name"|"public_key") on duplicates
    void update_ssh_key(const SshKey& k);  // name, labels
    void delete_ssh_key(const std::string& account_id, const std::string& fingerprint);
    void delete_ssh_keys_of(const std::string& account_id, const std::string& user_id);

    // Login view: members ordered by unix_name; keys in the order they were added.
    std::vector<LoginMemberRow> login_members(const std::string& account_id);
    std::vector<LoginKeyRow> login_keys(const std::string& account_id);

    // TOTP
    TfaRecord tfa(const std::string& user_id);
    void put_tfa(const std::string& user_id, const TfaRecord& r);  // also sets users.tfa_enabled
    std::vector<std::pair<std::string, TfaFailureState>> tfa_failure_states();
    void put_tfa_failure_state(const std::string& user_id, const TfaFailureState& s);

private:
    struct Impl;
    explicit Store(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace portal::store
