// /v1/account/ip_allowlist: the switch and the entries (owner only; the guard).
#include "keyd/api/json_body.h"
#include "keyd/api/router.h"
#include "keyd/iam/errors.h"

namespace portal::api {
namespace {

nlohmann::json entry_json(const IpAllowlistEntry& e) {
    return {{"id", e.id}, {"cidr", e.cidr}, {"comment", e.comment}, {"created_at", e.created_at}, {"updated_at", e.updated_at}};
}

nlohmann::json allowlist_json(const IpAllowlist& l) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& e : l.entries) entries.push_back(entry_json(e));
    return {{"active", l.active}, {"entries", entries}};
}

iam::AllowlistEntryChange entry_change(const Request& req, bool adding) {
    JsonBody body(req);
    iam::AllowlistEntryChange c;
    c.cidr = body.string("cidr", adding, 64);
    c.comment = body.string("comment", false, 200);
    body.finish();
    return c;
}

}  // namespace

void register_ip_allowlist_routes(Router& r) {
    r.add("GET", "/v1/account/ip_allowlist",
          [](Context& ctx) { return json_response(200, allowlist_json(ctx.iam.allowlist.get(ctx.caller()))); });
    r.add("PUT", "/v1/account/ip_allowlist", [](Context& ctx) {
        JsonBody body(ctx.req);
        const bool active = *body.boolean("active", true);
        body.finish();
        return json_response(200, allowlist_json(ctx.iam.allowlist.set_active(ctx.caller(), active)));
    });
    r.add("POST", "/v1/account/ip_allowlist/entries", [](Context& ctx) {
        auto c = entry_change(ctx.req, true);
        return json_response(201, entry_json(ctx.iam.allowlist.add(ctx.caller(), c)));
    });
    r.add("PUT", "/v1/account/ip_allowlist/entries/{entry_id}", [](Context& ctx) {
        auto c = entry_change(ctx.req, false);
        return json_response(200, entry_json(ctx.iam.allowlist.update(ctx.caller(), ctx.param("entry_id"), c)));
    });
    r.add("DELETE", "/v1/account/ip_allowlist/entries/{entry_id}", [](Context& ctx) {
        ctx.iam.allowlist.remove(ctx.caller(), ctx.param("entry_id"));
        return no_content();
    });
}

}  // namespace portal::api
