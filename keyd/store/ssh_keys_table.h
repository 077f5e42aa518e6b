// SSH keys: scoped by account (a member's key in one account is not in another); the
// fingerprint (MD5) is the key's id in the API.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keyd/store/types.h"
#include "shared/model.h"

namespace portal::store {

class Connection;

class SshKeysTable {
public:
    explicit SshKeysTable(Connection& conn) : conn_(conn) {}

    std::optional<SshKey> get(const std::string& account_id, const std::string& fingerprint);
    // In the order they were added; only the user's keys when user_id is given.
    std::vector<SshKey> list(const std::string& account_id, const std::optional<std::string>& user_id, Page page,
                             std::int64_t& total);
    std::vector<SshKey> all(const std::string& account_id);
    void insert(const SshKey& k);  // Conflict("name"|"public_key") on duplicates
    void update(const SshKey& k);  // name, labels
    void remove(const std::string& account_id, const std::string& fingerprint);
    void remove_of_user(const std::string& account_id, const std::string& user_id);

private:
    std::vector<SshKey> rows(const std::string& account_id, const std::optional<std::string>& user_id,
                             std::int64_t limit, std::int64_t offset);

    Connection& conn_;
};

}  // namespace portal::store
