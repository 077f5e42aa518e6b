// API tokens (PORTAL.md §5): user-global, stored as the SHA-256 of the secret only. Not IAM
// login state: writes bump no revision and log no change (nothing on a server follows them).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "shared/model.h"

namespace portal::store {

class Connection;

class ApiTokensTable {
public:
    explicit ApiTokensTable(Connection& conn) : conn_(conn) {}

    // Conflict("name") when the user has a token of that name.
    void insert(const ApiToken& t, const std::string& secret_hash);
    std::vector<ApiToken> of_user(const std::string& user_id);  // oldest first
    std::optional<ApiToken> get(const std::string& user_id, const std::string& id);
    // The token whose secret hashes to `secret_hash`, with its user's id.
    std::optional<ApiToken> by_hash(const std::string& secret_hash);
    bool remove(const std::string& user_id, const std::string& id);  // false: no such token
    // Sets last_used_at when it is older than `at` by a minute or more (a request per second
    // must not mean a write per second).
    void mark_used(const std::string& id, const std::string& at);

private:
    Connection& conn_;
};

}  // namespace portal::store
