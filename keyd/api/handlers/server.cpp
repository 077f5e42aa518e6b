// /v1/server: this server's login state and the members it could not publish.
#include "keyd/api/router.h"

namespace portal::api {

void register_server_routes(Router& r, const iam::ServerStatusService& server) {
    r.add("GET", "/v1/server", [&server](Context& ctx) {
        auto s = server.get(ctx.caller());
        nlohmann::json collisions = nlohmann::json::array();
        for (const auto& c : s.collisions)
            collisions.push_back({{"user_id", c.user_id}, {"unix_name", c.unix_name}, {"uid", c.uid}, {"reason", c.reason}});
        nlohmann::json state_file{{"current", s.state_file_current}};
        if (!s.state_file_error.empty()) state_file["error"] = s.state_file_error;
        nlohmann::json https = nullptr;  // off
        if (!s.https_endpoints.empty()) https = {{"listening", s.https_endpoints}, {"pin", s.https_pin}};
        if (!s.https_error.empty()) https = {{"listening", nlohmann::json::array()}, {"error", s.https_error}};
        return json_response(200, {{"account_id", s.account_id},
                                   {"revision", s.revision},
                                   {"state_file", state_file},
                                   {"collisions", collisions},
                                   {"https", https}});
    });
}

}  // namespace portal::api
