// The account's contacts (PORTAL.md §1): who hears about what. Members read them; owners
// change them.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "keyd/iam/caller.h"
#include "keyd/iam/paging.h"
#include "shared/model.h"

namespace portal::iam {

// What a create or update asks for; a field left out keeps its value (all but phone are
// required when creating). Checked by the service: 422 naming the field.
struct ContactChange {
    std::optional<std::string> name, email, phone;
    std::optional<std::vector<std::string>> notification_roles;
};

class ContactService {
public:
    virtual ~ContactService() = default;
    virtual PageResult<Contact> list(const Caller& c, const PageRequest& page) = 0;
    virtual Contact get(const Caller& c, const std::string& id) = 0;
    virtual Contact create(const Caller& c, const ContactChange& change) = 0;  // 409 email taken
    virtual Contact update(const Caller& c, const std::string& id, const ContactChange& change) = 0;
    virtual void remove(const Caller& c, const std::string& id) = 0;
};

}  // namespace portal::iam
