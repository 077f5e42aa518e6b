// The IAM model shared by the daemon, the PAM module and the keys helper.
// Plain data only: no I/O, no library types, so the lean login path can include it.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portal {

enum class Role { owner, manager, support };
enum class MemberStatus { invited, active, deactivated };

std::string_view to_string(Role r);
std::string_view to_string(MemberStatus s);
std::optional<Role> parse_role(std::string_view s);
std::optional<MemberStatus> parse_member_status(std::string_view s);

struct Account {
    std::string id;
    std::string name;
    bool enforce_2fa = false;
    std::string created_at;  // RFC 3339 UTC
    std::string updated_at;
};

struct LastLogin {
    std::string at, ip, host, method, status;
};

// A user of the portal; unix_name and uid are global (one identity on every server).
struct User {
    std::string id;
    std::string email;
    std::string name;
    std::string unix_name;
    std::uint32_t uid = 0;
    bool tfa_enabled = false;
    std::optional<LastLogin> last_login;
    std::string created_at;
    std::string updated_at;
};

// A user's membership of one account: role and status are per account.
struct Membership {
    std::string account_id;
    std::string user_id;
    Role role = Role::manager;
    MemberStatus status = MemberStatus::active;
    std::string created_at;
    std::string updated_at;
};

// An API token: acts as its user over HTTPS (PORTAL.md §5). The secret is shown once at
// creation and stored only as a hash; this is everything else about it.
enum class TokenAccess { read_only, full };
std::string_view to_string(TokenAccess a);
std::optional<TokenAccess> parse_token_access(std::string_view s);

struct ApiToken {
    std::string id;  // "tok_..."
    std::string user_id;
    std::string name;
    TokenAccess access = TokenAccess::read_only;
    std::string created_at;                   // RFC 3339 UTC
    std::optional<std::string> expires_at;    // none: until deleted
    std::optional<std::string> last_used_at;  // to the minute (updated at most once a minute)
};

// One network of an account's IP allowlist (PORTAL.md §1): portal sign-in, and optionally SSH,
// only from the listed networks while the list is active.
struct IpAllowlistEntry {
    std::string id;    // "ipa_..."
    std::string cidr;  // canonical (shared/cidr.h)
    std::string comment;
    std::string created_at;
    std::string updated_at;
};

struct IpAllowlist {
    bool active = false;
    std::vector<IpAllowlistEntry> entries;  // oldest first
};

// Who hears from the provider about an account (PORTAL.md §1): a contact receives the
// notifications of its roles. Account data for people, not IAM state: no server needs it.
inline constexpr std::array<std::string_view, 5> kNotificationRoles{"billing", "technical", "emergency", "abuse",
                                                                     "security"};
struct Contact {
    std::string id;  // "con_..."
    std::string name;
    std::string email;
    std::string phone;  // E.164 ("+4930123456"), or empty
    std::vector<std::string> notification_roles;  // of kNotificationRoles, in that order
    std::string created_at;
    std::string updated_at;
};

// A support ticket of an account, and its messages (oldest first). Text is kept as sent and
// only ever shown, never interpreted.
struct TicketMessage {
    std::string id;  // "msg_..."
    std::optional<std::string> author_id;  // the user; none for root on the socket
    std::string author_name;               // as it was when written
    std::string body;
    std::string created_at;
};
struct Ticket {
    std::string id;  // "tkt_..."
    std::string subject;
    std::string status;  // "open" or "closed"
    std::optional<std::string> created_by;  // user id; none for root on the socket
    std::string created_at;
    std::string updated_at;
    std::optional<std::string> closed_at;
    std::int64_t message_count = 0;
    std::vector<TicketMessage> messages;  // filled when one ticket is read
};

// Whether the provider's support staff may access an account, and until when (PORTAL.md §1).
// While it is granted and not expired, every support staff member has a `support` membership
// in the account; at expires_at (or when switched off) those memberships are deactivated.
struct SupportAccess {
    bool enabled = false;                   // granted and not yet expired
    std::optional<std::string> granted_by;  // user id; none for root on the socket
    std::optional<std::string> granted_at;  // the last grant (kept after it ends)
    std::optional<std::string> expires_at;
};
// A user root marked as the provider's support staff (on the authority).
struct SupportStaffMember {
    std::string user_id;
    std::string email;
    std::string name;
    std::string unix_name;
    std::string marked_at;
};

// A security notification for an account's contacts with the `security` role (issue 12):
// queued in the store with the change that caused it, then handed to the machine's MTA.
// status: "queued" (to be sent; attempts so far), "sent", "failed" (gave up after retrying),
// "kept" (not sent, and never will be: no MTA here, or no security contact; last_error says).
struct Notification {
    std::string id;  // "ntf_..."
    std::string account_id;
    std::string event;  // owner_added, owner_removed, tfa_reset, enforce_2fa_changed, support_access_granted,
                        // ip_allowlist_changed
    std::string subject;
    std::string body;
    std::vector<std::string> recipients;  // emails, as they were when it was queued
    std::string status = "queued";
    std::int64_t attempts = 0;
    std::optional<std::string> last_error;
    std::string created_at;
    std::optional<std::string> sent_at;
    std::string next_attempt_at;  // for a queued one
};

// A server that follows an account's IAM feed (an agent), enrolled with a one-use token
// (PORTAL.md §5). Its host token is stored as a hash only.
struct Host {
    std::string id;  // "hst_..."
    std::string account_id;
    std::string hostname;
    std::map<std::string, std::string> labels;
    std::string version;                      // the agent's portal-keyd version
    std::string created_at;
    std::optional<std::string> last_seen_at;  // its last feed request (to the minute)
    std::uint64_t revision = 0;               // the revision it last asked from
    // Derived when read: "registered" (never asked for the feed), "online" (asked within
    // kHostOnlineSeconds: a long-poll comes back within 300 s and jitter), "stale".
    std::string status = "registered";
};
inline constexpr long kHostOnlineSeconds = 660;

// A one-use enrolment token's record (the secret itself is never kept).
struct HostEnrolment {
    std::string id;  // "enr_..."
    std::string account_id;
    std::optional<std::string> name;  // the host name it is meant for, if given
    std::map<std::string, std::string> labels;
    std::string created_at;
    std::string expires_at;
};

// One login attempt on a server of the account, as its host reported it (POST
// /v1/iam/login_events): the account's login history (GET /v1/account/logins).
struct LoginEvent {
    std::string id;  // the host's own id for it: a report sent twice is kept once
    std::string host_id;
    std::string account_id;
    std::string at;  // RFC 3339, when it happened on the host
    std::string unix_name;
    std::optional<std::string> user_id;
    std::string ip;
    std::string method;    // "publickey", "publickey+totp", ...
    std::string decision;  // "allow" | "deny"
    std::string reason;
};

// User as the account's /users resource shows it (user + membership joined).
struct AccountUser {
    User user;
    Membership membership;
};

struct SshKey {
    std::string account_id;
    std::string user_id;
    std::string name;
    std::string fingerprint;         // MD5 colon hex, the provider API's key id
    std::string fingerprint_sha256;  // "SHA256:..." exactly as ssh-keygen -l
    std::string public_key;          // "<type> <base64>" normalised, no comment/options
    std::string type;                // e.g. "ssh-ed25519"
    int bits = 0;
    std::map<std::string, std::string> labels;
    std::string created_at;
    std::string updated_at;
};

}  // namespace portal
