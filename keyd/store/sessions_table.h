// Portal sign-in (PORTAL.md §5): session tokens, kept as the SHA-256 of the secret only, and
// users' password hashes (Argon2id PHC strings). User-global, not IAM login state: writes
// bump no revision and log no change (nothing on a server follows them).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace portal::store {

class Connection;

struct SessionRecord {
    std::string id;
    std::string user_id;
    std::string ip;  // the address it was created from
    std::string created_at;
    std::string expires_at;
    std::optional<std::string> last_used_at;
};

class SessionsTable {
public:
    explicit SessionsTable(Connection& conn) : conn_(conn) {}

    // Also drops every session that has expired by `s.created_at` (they are dead weight).
    void insert(const SessionRecord& s, const std::string& secret_hash);
    std::optional<SessionRecord> by_hash(const std::string& secret_hash);
    bool remove(const std::string& id);  // false: no such session
    // Ends every session of the user but `keep_id` (a password change keeps the one that made it).
    void remove_of_user(const std::string& user_id, const std::string& keep_id = {});
    std::vector<SessionRecord> of_user(const std::string& user_id);
    // The sessions of every user with a membership in the account (an allowlist switched on).
    std::vector<SessionRecord> of_account_members(const std::string& account_id);
    // As ApiTokensTable::mark_used: at most one write a minute per session.
    void mark_used(const std::string& id, const std::string& at);

    // The user's Argon2id hash, if they set a password.
    std::optional<std::string> password_hash(const std::string& user_id);
    void set_password_hash(const std::string& user_id, const std::string& hash, const std::string& at);

private:
    Connection& conn_;
};

}  // namespace portal::store
