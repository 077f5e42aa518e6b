// /v1/support/access: whether the provider's support staff may access the account, and until
// when (owners: the guard). /v1/support/staff: who the support staff are (root on this
// server's socket).
#include "keyd/api/json_body.h"
#include "keyd/api/router.h"

namespace portal::api {
namespace {

nlohmann::json optional_text(const std::optional<std::string>& s) { return s ? nlohmann::json(*s) : nlohmann::json(nullptr); }

nlohmann::json access_json(const SupportAccess& a) {
    return {{"enabled", a.enabled},
            {"granted_by", optional_text(a.granted_by)},
            {"granted_at", optional_text(a.granted_at)},
            {"expires_at", optional_text(a.expires_at)}};
}

nlohmann::json staff_json(const SupportStaffMember& s) {
    return {{"user_id", s.user_id}, {"email", s.email}, {"name", s.name}, {"unix_name", s.unix_name},
            {"marked_at", s.marked_at}};
}

}  // namespace

void register_support_access_routes(Router& r) {
    r.add("GET", "/v1/support/access", [](Context& ctx) {
        auto c = ctx.caller();
        return json_response(200, access_json(ctx.iam.support.access(c)));
    });
    // {enabled: true, expires_at} grants (or moves the expiry); {enabled: false} ends it.
    r.add("PUT", "/v1/support/access", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::SupportAccessChange change;
        change.enabled = *body.boolean("enabled", true);
        change.expires_at = body.string("expires_at", false, 64);
        body.finish();
        auto c = ctx.caller();
        return json_response(200, access_json(ctx.iam.support.set_access(c, change)));
    });
    r.add("GET", "/v1/support/staff", [](Context& ctx) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& s : ctx.iam.support.staff(ctx.principal)) out.push_back(staff_json(s));
        return json_response(200, out);
    });
    r.add("PUT", "/v1/support/staff/{user_id}", [](Context& ctx) {
        return json_response(200, staff_json(ctx.iam.support.mark_staff(ctx.principal, ctx.param("user_id"))));
    });
    r.add("DELETE", "/v1/support/staff/{user_id}", [](Context& ctx) {
        ctx.iam.support.unmark_staff(ctx.principal, ctx.param("user_id"));
        return no_content();
    });
}

}  // namespace portal::api
