// NotificationService on the embedded store.
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/notification_service.h"

namespace portal::iam::authority {

class Notifications final : public NotificationService {
public:
    explicit Notifications(Backend& b) : b_(b) {}
    PageResult<Notification> list(const Caller& c, const PageRequest& page) override;

private:
    Backend& b_;
};

}  // namespace portal::iam::authority
