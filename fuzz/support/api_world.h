// The v1 API as the daemon serves it, for the router target: the real Router with every
// route, over the real IAM services on a temp SQLite store, seeded with one account and a
// few members through the API itself (as root). Everything that names keyd/iam types is in
// make_api_service() in api_world.cpp, the one place to adapt when the service changes.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "keyd/api/http_types.h"

namespace portal::fuzz {

class ApiWorld {
public:
    ApiWorld();
    ~ApiWorld();
    ApiWorld(const ApiWorld&) = delete;
    ApiWorld& operator=(const ApiWorld&) = delete;

    api::Response dispatch(const api::Request& req);
    // Peers the fuzzer picks from: root, the account's owner, a manager, a deactivated
    // member, and a uid that is nobody in the portal.
    const std::vector<uid_t>& peers() const { return peers_; }
    // Replaces $ACCOUNT, $OWNER, $MANAGER, $GONE and $KEY by this world's random ids, so
    // that seeds can name existing resources.
    std::string expand(std::string_view text) const;

    struct Service;  // the store, 2FA and IAM service behind the router (api_world.cpp)

private:
    std::unique_ptr<Service> service_;
    std::vector<uid_t> peers_;
    std::vector<std::pair<std::string, std::string>> names_;  // placeholder -> id
};

// "METHOD target" + header lines + blank line + body, split the way http_server.cpp
// splits an origin-form target (percent-decoded path, query pairs). False for what the
// server would answer 400 before the router (bad escape, decoded NUL, no leading '/').
bool parse_request_text(std::string_view text, api::Request& out);

}  // namespace portal::fuzz
