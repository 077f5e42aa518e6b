#include "shared/model.h"

namespace portal {

std::string_view to_string(Role r) {
    switch (r) {
        case Role::owner: return "owner";
        case Role::manager: return "manager";
        case Role::support: return "support";
    }
    return "unknown";
}

std::string_view to_string(MemberStatus s) {
    switch (s) {
        case MemberStatus::invited: return "invited";
        case MemberStatus::active: return "active";
        case MemberStatus::deactivated: return "deactivated";
    }
    return "unknown";
}

std::optional<Role> parse_role(std::string_view s) {
    if (s == "owner") return Role::owner;
    if (s == "manager") return Role::manager;
    if (s == "support") return Role::support;
    return std::nullopt;
}

std::optional<MemberStatus> parse_member_status(std::string_view s) {
    if (s == "invited") return MemberStatus::invited;
    if (s == "active") return MemberStatus::active;
    if (s == "deactivated") return MemberStatus::deactivated;
    return std::nullopt;
}

std::string_view to_string(TokenAccess a) { return a == TokenAccess::full ? "full" : "read_only"; }

std::optional<TokenAccess> parse_token_access(std::string_view s) {
    if (s == "read_only") return TokenAccess::read_only;
    if (s == "full") return TokenAccess::full;
    return std::nullopt;
}

}  // namespace portal
