// ContactService on the embedded store.
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/contact_service.h"

namespace portal::iam::authority {

class Contacts final : public ContactService {
public:
    explicit Contacts(Backend& b) : b_(b) {}
    PageResult<Contact> list(const Caller& c, const PageRequest& page) override;
    Contact get(const Caller& c, const std::string& id) override;
    Contact create(const Caller& c, const ContactChange& change) override;
    Contact update(const Caller& c, const std::string& id, const ContactChange& change) override;
    void remove(const Caller& c, const std::string& id) override;

private:
    Backend& b_;
};

}  // namespace portal::iam::authority
