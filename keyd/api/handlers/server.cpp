// /v1/server: this server's login state and the members it could not publish.
#include "keyd/api/json_body.h"
#include "keyd/api/router.h"
#include "keyd/api/server_why.h"
#include "keyd/api/views.h"

namespace portal::api {

void register_server_routes(Router& r, const iam::ServerStatusService& server) {
    r.add("GET", "/v1/server", [&server](Context& ctx) {
        return json_response(200, server_json(server.get(ctx.caller()), "authority"));
    });
    // portalctl why: the login rules' verdicts for one member (root: anyone; a member: themself).
    r.add("GET", "/v1/server/why", [&server](Context& ctx) {
        const login::ExplainQuery q = why_query(ctx.req);
        return json_response(200, why_json(server.why(ctx.principal, q)));
    });
    // portalctl join: answered once the portal registered this host (or refused it); the
    // daemon then restarts itself as an agent.
    r.add("POST", "/v1/server/join", [&server](Context& ctx) {
        server.authorize_join(ctx.principal);
        JsonBody body(ctx.req);
        iam::JoinRequest j;
        j.url = *body.string("url", true, 300);
        j.enrolment_token = *body.string("enrolment_token", true, 200);
        j.pin = body.string("pin", false, 100).value_or("");
        j.ca_file = body.string("ca_file", false, 4096).value_or("");
        j.discard_local_accounts = body.boolean("discard_local_accounts", false).value_or(false);
        body.finish();
        Response deferred;
        const iam::Principal principal = ctx.principal;
        deferred.deferred = [&server, principal, j](Respond done) mutable {
            auto answer = [done](iam::JoinOutcome o) {
                if (o.error) return done(error_response(*o.error));
                done(json_response(200, {{"host_id", o.host_id}, {"mode", "agent"},
                                         {"message", "joined: portal-keyd restarts as an agent of the portal"}}));
            };
            try {
                server.join(principal, std::move(j), answer);
            } catch (const iam::ApiError& e) {
                done(error_response(e));
            }
        };
        return deferred;
    });
}

}  // namespace portal::api
