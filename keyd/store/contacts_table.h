// An account's contacts (PORTAL.md §1). Not IAM state: no server follows them, so writes move
// no revision and no feed change.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "keyd/store/types.h"
#include "shared/model.h"

namespace portal::store {

class Connection;

class ContactsTable {
public:
    explicit ContactsTable(Connection& conn) : conn_(conn) {}

    // By name, then id.
    std::vector<Contact> of_account(const std::string& account_id, const Page& page);
    std::int64_t count(const std::string& account_id);
    std::optional<Contact> get(const std::string& account_id, const std::string& id);
    // The account's contacts that take `role` (e.g. "security"), by name.
    std::vector<Contact> with_role(const std::string& account_id, std::string_view role);
    // Conflict("email") when the account has a contact with that email.
    void insert(const std::string& account_id, const Contact& c);
    // Reads the contact, applies `change` (which may throw: nothing is written) and stores the
    // result, in one transaction; nullopt when there is no such contact.
    std::optional<Contact> modify(const std::string& account_id, const std::string& id,
                                  const std::function<Contact(const Contact&)>& change);
    bool remove(const std::string& account_id, const std::string& id);

private:
    Connection& conn_;
};

}  // namespace portal::store
