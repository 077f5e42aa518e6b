// The single place that decides whether a user may log in (docs/LOGIN_PROTOCOL.md,
// "Decisions"). The daemon calls it for CheckAccount/GetAuthorizedKeys; the helper and the
// PAM module call it on the fallback file. Log lines and PAM messages are built from the
// returned decision, never from checks of their own.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/ipc/login_state.h"
#include "shared/model.h"

namespace portal::ipc {

// Reason codes (stable: they go over the wire and into logs).
namespace reason {
inline constexpr std::string_view allowed = "allowed";
inline constexpr std::string_view not_portal_user = "not_portal_user";
inline constexpr std::string_view not_published = "not_published";
inline constexpr std::string_view not_member = "not_member";
inline constexpr std::string_view invited = "invited";
inline constexpr std::string_view deactivated = "deactivated";
inline constexpr std::string_view role_not_allowed = "role_not_allowed";
inline constexpr std::string_view tfa_enrolment_required = "tfa_enrolment_required";
inline constexpr std::string_view state_expired = "state_expired";
// Fallback only: the member must give a code, and codes are verified only by the daemon.
inline constexpr std::string_view tfa_unavailable = "tfa_unavailable";
// The account's IP allowlist, applied to SSH here, does not list the client's address.
inline constexpr std::string_view ip_not_allowed = "ip_not_allowed";
// A support membership outside its account's grant (past access_until, or none known).
inline constexpr std::string_view access_expired = "access_expired";
}  // namespace reason

struct LoginPolicy {
    std::vector<Role> login_roles{Role::owner, Role::manager};
};

// Where the state came from. Online (the daemon's memory) is the default.
struct StateSource {
    bool fallback = false;       // read from the on-disk file because the daemon did not answer
    bool expired = false;        // that file is older than its grace period
    std::int64_t now = 0;        // the decision's time, unix seconds (support access windows); 0: the clock's
};

struct LoginDecision {
    bool portal_user = false;   // false: not ours; the helper prints nothing, PAM_IGNORE
    bool allow = false;
    std::string reason;         // one of portal::ipc::reason
    std::string message;        // for the user (PAM conversation); empty when allowed
    bool tfa_required = false;  // allowed, and a verification code must be given
    // The member's uid (portal users only): the login path logs a member in only when the
    // name resolves to this uid on this machine (a local account that shadows the name, or
    // a later /etc/passwd entry, must never be opened with the member's keys).
    std::optional<std::uint32_t> uid;
};

// One rule's verdict, for `portalctl why` (the daemon's explain): the rules in the order
// check_account applies them.
struct RuleVerdict {
    std::string_view rule;    // one of portal::ipc::rule
    bool pass = false;
    std::string_view reason;  // failed: the reason code this rule refuses with; passed: empty
    std::string detail;       // what was compared: "status deactivated", "role support; allowed: owner, manager"
};

// Rule names (stable: they go over the API), in check_account's order.
namespace rule {
inline constexpr std::string_view member = "member";              // the name is a member of the served account
inline constexpr std::string_view published = "published";        // and the daemon published it here
inline constexpr std::string_view state = "state";                // the state is not an expired fallback file
inline constexpr std::string_view status = "status";              // membership active
inline constexpr std::string_view role = "role";                  // role among the login roles
inline constexpr std::string_view access_window = "access_window";  // support staff: within the grant
inline constexpr std::string_view ip_allowlist = "ip_allowlist";  // the address is listed, where applied
inline constexpr std::string_view tfa_enrolment = "tfa_enrolment";  // Enforce 2FA and the member's 2FA
inline constexpr std::string_view tfa_fallback = "tfa_fallback";    // a 2FA member needs the daemon
}  // namespace rule

// `rhost`: the client's address (PAM_RHOST) where the decision is about one connection;
// nullopt where it is not (authorized keys, publication, revocation), which leaves the IP
// allowlist to the connection's own account check. An address that is not an IP literal
// (sshd with UseDNS) is not listed.
//
// `trace` (explanations only, never the login path): every rule is appended with its verdict
// and detail, also after one failed, so that all of them are seen; the decision is the same
// as without a trace (the first failing rule's). Only an unknown name stops the trace (no
// member: nothing else to judge). Without a trace nothing is formatted or allocated: the
// first failing rule returns at once.
LoginDecision check_account(const LoginState& state, std::string_view user, const LoginPolicy& policy,
                            const StateSource& source = {}, std::optional<std::string_view> rhost = std::nullopt,
                            std::vector<RuleVerdict>* trace = nullptr);

// check_account for a member already at hand (one of `state`'s, or a copy judged under its
// rules): no look-up by name. What publication and revocation judge for every member.
LoginDecision check_member(const LoginState& state, const LoginMember& member, const LoginPolicy& policy,
                           const StateSource& source = {}, std::optional<std::string_view> rhost = std::nullopt);

// The policy the daemon recorded in the state (used by fallback readers).
inline LoginPolicy policy_of(const LoginState& state) { return LoginPolicy{state.login_roles}; }

// The user-facing text for a reason code (empty for allowed and unknown codes).
std::string_view message_for(std::string_view reason_code);

}  // namespace portal::ipc
