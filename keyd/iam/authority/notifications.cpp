#include "keyd/iam/authority/notifications.h"

namespace portal::iam::authority {

PageResult<Notification> Notifications::list(const Caller& c, const PageRequest& page) {
    authorize({c.principal, &c}, Operation::list_notifications);
    PageResult<Notification> r;
    b_.store.read([&] {
        r.items = b_.store.notifications().of_account(c.account.id, to_store_page(page));
        r.total = b_.store.notifications().count(c.account.id);
    });
    return r;
}

}  // namespace portal::iam::authority
