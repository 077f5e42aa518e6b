// Security notifications (issue 12): a change that weakens or widens who holds power in an
// account (an owner added or removed, 2FA reset, Enforce 2FA switched, support access granted,
// the IP allowlist switched) queues a notice for the account's contacts with the `security`
// role, inside the write that makes the change: both commit, or neither. The mailer
// (keyd/notify/mailer.h) delivers it afterwards.
#pragma once
#include <string>

#include "keyd/iam/caller.h"
#include "keyd/store/store.h"

namespace portal::iam::authority {

enum class SecurityEvent { owner_added, owner_removed, tfa_reset, enforce_2fa_changed, support_access_granted,
                           ip_allowlist_changed };

std::string_view to_string(SecurityEvent e);

// Call inside the write (store.transaction). `what` is one sentence saying what happened
// ("ann@example.com (Ann) is now an owner."); `by` is who did it.
void queue_security_notice(store::Store& store, const std::string& account_id, SecurityEvent event,
                           const std::string& what, const Principal& by);

// "ann@example.com (Ann)", or the email alone when the user has no name.
std::string person_text(const User& u);

}  // namespace portal::iam::authority
