// /v1/notifications: the account's security notifications, newest first (owners: the guard),
// with what became of each (sent, queued for another try, failed, kept).
#include "keyd/api/pagination.h"
#include "keyd/api/router.h"

namespace portal::api {
namespace {

nlohmann::json optional_json(const std::optional<std::string>& s) { return s ? nlohmann::json(*s) : nlohmann::json(nullptr); }

nlohmann::json notification_json(const Notification& n) {
    return {{"id", n.id},
            {"event", n.event},
            {"subject", n.subject},
            {"body", n.body},
            {"recipients", n.recipients},
            {"status", n.status},
            {"attempts", n.attempts},
            {"last_error", optional_json(n.last_error)},
            {"created_at", n.created_at},
            {"sent_at", optional_json(n.sent_at)}};
}

}  // namespace

void register_notification_routes(Router& r) {
    r.add("GET", "/v1/notifications", [](Context& ctx) {
        auto pg = parse_page(ctx.req);
        auto c = ctx.caller();
        auto page = ctx.iam.notifications.list(c, pg);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& n : page.items) out.push_back(notification_json(n));
        auto resp = json_response(200, out);
        add_page_headers(resp, ctx.req, pg, page.total);
        return resp;
    });
}

}  // namespace portal::api
