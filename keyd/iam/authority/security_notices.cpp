#include "keyd/iam/authority/security_notices.h"

#include "keyd/store/timestamp.h"
#include "shared/random.h"

namespace portal::iam::authority {
namespace {

// The subject's words for each event.
std::string_view title(SecurityEvent e) {
    switch (e) {
        case SecurityEvent::owner_added: return "an owner was added";
        case SecurityEvent::owner_removed: return "an owner was removed";
        case SecurityEvent::tfa_reset: return "two-factor authentication was reset";
        case SecurityEvent::enforce_2fa_changed: return "Enforce 2FA was switched";
        case SecurityEvent::support_access_granted: return "support access was granted";
        case SecurityEvent::ip_allowlist_changed: return "the IP allowlist was switched";
    }
    return "security change";
}

std::string by_text(const Principal& p) {
    if (p.user) return person_text(*p.user);
    if (p.is_system()) return "root on the portal server";
    return "the system";
}

}  // namespace

std::string_view to_string(SecurityEvent e) {
    switch (e) {
        case SecurityEvent::owner_added: return "owner_added";
        case SecurityEvent::owner_removed: return "owner_removed";
        case SecurityEvent::tfa_reset: return "tfa_reset";
        case SecurityEvent::enforce_2fa_changed: return "enforce_2fa_changed";
        case SecurityEvent::support_access_granted: return "support_access_granted";
        case SecurityEvent::ip_allowlist_changed: return "ip_allowlist_changed";
    }
    return "unknown";
}

std::string person_text(const User& u) { return u.name.empty() ? u.email : u.email + " (" + u.name + ")"; }

void queue_security_notice(store::Store& store, const std::string& account_id, SecurityEvent event,
                           const std::string& what, const Principal& by) {
    const auto account = store.accounts().get(account_id);
    const std::string account_name = account ? account->name : account_id;
    const std::string now = store::now_rfc3339();
    Notification n;
    n.id = random_id("ntf_");
    n.account_id = account_id;
    n.event = std::string(to_string(event));
    n.subject = "[" + account_name + "] Security: " + std::string(title(event));
    n.body = "Account: " + account_name + " (" + account_id + ")\n" + "What happened: " + what + "\n" +
             "Done by: " + by_text(by) + "\n" + "When: " + now + "\n\n" +
             "You receive this because you are a security contact of this account. If you did not\n"
             "expect this change, ask an owner of the account about it now.\n";
    for (const auto& c : store.contacts().with_role(account_id, "security")) n.recipients.push_back(c.email);
    n.created_at = n.next_attempt_at = now;
    store.notifications().queue(n);
}

}  // namespace portal::iam::authority
