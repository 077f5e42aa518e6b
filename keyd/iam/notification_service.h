// The account's security notifications (issue 12; queued by authority/security_notices.h,
// delivered by keyd/notify/mailer.h): owners read what was sent, and what could not be.
#pragma once
#include "keyd/iam/caller.h"
#include "keyd/iam/paging.h"
#include "shared/model.h"

namespace portal::iam {

class NotificationService {
public:
    virtual ~NotificationService() = default;
    // Newest first.
    virtual PageResult<Notification> list(const Caller& c, const PageRequest& page) = 0;
};

}  // namespace portal::iam
