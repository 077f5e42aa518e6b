// The v1 API as the daemon serves it: one list, so tests enumerate exactly what is served.
#include "keyd/api/router.h"

namespace portal::api {

void register_v1_routes(Router& r, const iam::ServerStatusService& server, LongPolls* polls) {
    register_account_routes(r);
    register_user_routes(r);
    register_profile_routes(r);
    register_ssh_key_routes(r);
    register_server_routes(r, server);
    register_api_token_routes(r);
    register_host_routes(r);
    register_session_routes(r);
    register_ip_allowlist_routes(r);
    register_contact_routes(r);
    register_support_ticket_routes(r);
    register_support_access_routes(r);
    register_notification_routes(r);
    register_iam_feed_routes(r, polls);
}

}  // namespace portal::api
