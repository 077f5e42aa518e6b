// /v1/contacts: who hears about what (members read; owners change: the guard).
#include "keyd/api/json_body.h"
#include "keyd/api/pagination.h"
#include "keyd/api/router.h"

namespace portal::api {
namespace {

nlohmann::json contact_json(const Contact& c) {
    return {{"id", c.id},
            {"name", c.name},
            {"email", c.email},
            {"phone", c.phone.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.phone)},
            {"notification_roles", c.notification_roles},
            {"created_at", c.created_at},
            {"updated_at", c.updated_at}};
}

// phone: a string, "" or null to have none.
iam::ContactChange contact_change(const Request& req, bool creating) {
    JsonBody body(req);
    iam::ContactChange c;
    c.name = body.string("name", creating, 100);
    c.email = body.email("email", creating);
    c.phone = body.string("phone", false, 16);
    c.notification_roles = body.strings("notification_roles", false, 5, 16);
    body.finish();
    if (!c.phone && creating) c.phone = "";
    return c;
}

}  // namespace

void register_contact_routes(Router& r) {
    r.add("GET", "/v1/contacts", [](Context& ctx) {
        auto pg = parse_page(ctx.req);
        auto c = ctx.caller();
        auto page = ctx.iam.contacts.list(c, pg);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& item : page.items) out.push_back(contact_json(item));
        auto resp = json_response(200, out);
        add_page_headers(resp, ctx.req, pg, page.total);
        return resp;
    });
    r.add("POST", "/v1/contacts", [](Context& ctx) {
        auto change = contact_change(ctx.req, true);
        auto c = ctx.caller();
        return json_response(201, contact_json(ctx.iam.contacts.create(c, change)));
    });
    r.add("GET", "/v1/contacts/{contact_id}", [](Context& ctx) {
        auto c = ctx.caller();
        return json_response(200, contact_json(ctx.iam.contacts.get(c, ctx.param("contact_id"))));
    });
    r.add("PUT", "/v1/contacts/{contact_id}", [](Context& ctx) {
        auto change = contact_change(ctx.req, false);
        auto c = ctx.caller();
        return json_response(200, contact_json(ctx.iam.contacts.update(c, ctx.param("contact_id"), change)));
    });
    r.add("DELETE", "/v1/contacts/{contact_id}", [](Context& ctx) {
        auto c = ctx.caller();
        ctx.iam.contacts.remove(c, ctx.param("contact_id"));
        return no_content();
    });
}

}  // namespace portal::api
