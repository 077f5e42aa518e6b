// What the portal shows of a member beyond what logins need: email, name, dates, and each
// key's name and labels. The IAM feed carries it for agents that ask (?profiles=1), so that
// an agent's local API answers reads from its synced copy (PORTAL.md §5); the login path
// never holds it (an agent strips it before its login view).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace portal::ipc {

struct KeyProfile {
    std::string fingerprint_sha256;  // which of the member's login keys
    std::string fingerprint;         // MD5 colon hex: the API's key id
    std::string name;
    std::map<std::string, std::string> labels;
    std::string created_at, updated_at;
    bool operator==(const KeyProfile&) const = default;
};

struct MemberProfile {
    std::string email, name;
    std::string created_at;  // the user's
    std::string updated_at;  // the later of the user's and the membership's
    std::string joined_at;   // the membership's created_at (listings are in this order)
    std::vector<KeyProfile> keys;
    bool operator==(const MemberProfile&) const = default;
};

// Its JSON: shared/ipc/login_member_json.h.

}  // namespace portal::ipc
