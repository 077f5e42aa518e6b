// /v1/hosts: enrolment tokens, registration, and the account's enrolled hosts.
#include "keyd/api/json_body.h"
#include "keyd/api/pagination.h"
#include "keyd/api/router.h"
#include "keyd/api/views.h"
#include "keyd/iam/errors.h"

namespace portal::api {

void register_host_routes(Router& r) {
    r.add("POST", "/v1/hosts/enrolments", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::NewEnrolment e;
        e.name = body.string("name", false, 253);
        if (auto l = body.labels("labels")) e.labels = *l;
        // A minute to a week: an enrolment token is meant to be used right away.
        if (auto in = body.integer("expires_in", false, 60, 7 * 86400)) e.expires_in = std::chrono::seconds(*in);
        body.finish();
        auto c = ctx.caller();
        auto made = ctx.iam.hosts.create_enrolment(c, e);
        nlohmann::json out{{"id", made.enrolment.id},
                           {"token", made.secret},  // shown once
                           {"expires_at", made.enrolment.expires_at},
                           {"labels", made.enrolment.labels}};
        out["name"] = made.enrolment.name ? nlohmann::json(*made.enrolment.name) : nlohmann::json();
        return json_response(201, out);
    });
    r.add_public("POST", "/v1/hosts/register", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::Registration reg;
        reg.enrolment_token = *body.string("token", true, 128);
        reg.hostname = *body.string("hostname", true, 253);
        reg.version = *body.string("version", true, 64);
        body.finish();
        if (reg.hostname.empty()) throw iam::ApiError::unprocessable("hostname", "must not be empty");
        auto made = ctx.iam.hosts.register_host(ctx.principal, reg);
        return json_response(201, {{"host_id", made.host.id}, {"host_token", made.secret}, {"host", host_json(made.host)}});
    });
    r.add("GET", "/v1/hosts", [](Context& ctx) {
        auto c = ctx.caller();
        nlohmann::json out = nlohmann::json::array();
        for (const auto& h : ctx.iam.hosts.list(c)) out.push_back(host_json(h));
        return json_response(200, out);
    });
    r.add("GET", "/v1/hosts/{host_id}", [](Context& ctx) {
        auto c = ctx.caller();
        return json_response(200, host_json(ctx.iam.hosts.get(c, ctx.param("host_id"))));
    });
    r.add("GET", "/v1/account/logins", [](Context& ctx) {
        auto pg = parse_page(ctx.req);
        auto c = ctx.caller();
        auto page = ctx.iam.hosts.logins(c, pg);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& e : page.items) out.push_back(login_event_json(e));
        auto resp = json_response(200, out);
        add_page_headers(resp, ctx.req, pg, page.total);
        return resp;
    });
    r.add("DELETE", "/v1/hosts/{host_id}", [](Context& ctx) {
        auto c = ctx.caller();
        ctx.iam.hosts.remove(c, ctx.param("host_id"));
        return no_content();
    });
}

}  // namespace portal::api
