#include "keyd/iam/authority/contacts.h"

#include <algorithm>

#include "keyd/iam/errors.h"
#include "keyd/store/timestamp.h"
#include "shared/random.h"

namespace portal::iam::authority {
namespace {

// E.164: '+', then 2 to 15 digits, the first not 0 (spaces, dashes and brackets are the
// caller's to remove: what is stored is what a notifier dials).
void check_phone(const std::string& phone) {
    if (phone.empty()) return;  // no phone
    const bool ok = phone.size() >= 3 && phone.size() <= 16 && phone[0] == '+' && phone[1] >= '1' && phone[1] <= '9' &&
                    std::all_of(phone.begin() + 1, phone.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (!ok) throw ApiError::unprocessable("phone", "must be an E.164 number: '+', country code and number, digits only "
                                                    "(e.g. +4930901820)");
}

// The roles in kNotificationRoles' order; unknown or repeated ones are refused.
std::vector<std::string> checked_roles(const std::vector<std::string>& roles) {
    std::vector<std::string> out;
    for (const auto& r : roles) {
        if (std::find(kNotificationRoles.begin(), kNotificationRoles.end(), r) == kNotificationRoles.end())
            throw ApiError::unprocessable("notification_roles",
                                          "unknown role '" + r + "' (billing, technical, emergency, abuse, security)");
        if (std::count(roles.begin(), roles.end(), r) > 1)
            throw ApiError::unprocessable("notification_roles", "'" + r + "' is listed twice");
    }
    for (const auto known : kNotificationRoles)
        if (std::find(roles.begin(), roles.end(), known) != roles.end()) out.emplace_back(known);
    return out;
}

Contact apply(Contact c, const ContactChange& change) {
    if (change.name) {
        if (change.name->empty()) throw ApiError::unprocessable("name", "must not be empty");
        c.name = *change.name;
    }
    if (change.email) c.email = *change.email;
    if (change.phone) {
        check_phone(*change.phone);
        c.phone = *change.phone;
    }
    if (change.notification_roles) c.notification_roles = checked_roles(*change.notification_roles);
    return c;
}

}  // namespace

PageResult<Contact> Contacts::list(const Caller& c, const PageRequest& page) {
    authorize({c.principal, &c}, Operation::list_contacts);
    PageResult<Contact> r;
    b_.store.read([&] {
        r.items = b_.store.contacts().of_account(c.account.id, to_store_page(page));
        r.total = b_.store.contacts().count(c.account.id);
    });
    return r;
}

Contact Contacts::get(const Caller& c, const std::string& id) {
    authorize({c.principal, &c}, Operation::get_contact);
    auto found = b_.store.contacts().get(c.account.id, id);
    if (!found) throw ApiError::not_found("contact not found");
    return *found;
}

Contact Contacts::create(const Caller& c, const ContactChange& change) {
    authorize({c.principal, &c}, Operation::change_contacts);
    if (!change.name) throw ApiError::unprocessable("name", "is required");
    if (!change.email) throw ApiError::unprocessable("email", "is required");
    Contact made = apply(Contact{}, change);
    made.id = random_id("con_");
    made.created_at = made.updated_at = store::now_rfc3339();
    b_.write_quietly([&] { b_.store.contacts().insert(c.account.id, made); });
    return made;
}

Contact Contacts::update(const Caller& c, const std::string& id, const ContactChange& change) {
    authorize({c.principal, &c}, Operation::change_contacts);
    std::optional<Contact> changed;
    b_.write_quietly([&] {
        changed = b_.store.contacts().modify(c.account.id, id, [&](const Contact& before) {
            Contact after = apply(before, change);
            after.updated_at = store::now_rfc3339();
            return after;
        });
    });
    if (!changed) throw ApiError::not_found("contact not found");
    return *changed;
}

void Contacts::remove(const Caller& c, const std::string& id) {
    authorize({c.principal, &c}, Operation::change_contacts);
    bool removed = false;
    b_.write_quietly([&] { removed = b_.store.contacts().remove(c.account.id, id); });
    if (!removed) throw ApiError::not_found("contact not found");
}

}  // namespace portal::iam::authority
