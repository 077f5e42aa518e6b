// /v1/auth/sessions (portal sign-in) and /v1/profile/password. The token is in the create
// response only; nothing here is cached.
#include "keyd/api/json_body.h"
#include "keyd/api/router.h"
#include "keyd/iam/errors.h"

namespace portal::api {
namespace {

Response not_cached(Response r) {
    r.headers.emplace_back("cache-control", "no-store");
    return r;
}

}  // namespace

void register_session_routes(Router& r) {
    // Public over HTTPS: the proof is the email and password in the body.
    r.add_public("POST", "/v1/auth/sessions", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::SignIn s;
        s.email = *body.string("email", true, 254);
        s.password = *body.string("password", true, 1024);
        s.tfa_code = body.string("tfa_code", false, 32);
        body.finish();
        s.remote_address = ctx.principal.remote_address;
        auto made = ctx.iam.sessions.sign_in(ctx.principal, s);
        return not_cached(json_response(201, {{"token", made.token}, {"expires_at", made.expires_at}}));
    });
    r.add("DELETE", "/v1/auth/sessions/current", [](Context& ctx) {
        ctx.iam.sessions.sign_out(ctx.principal);
        return no_content();
    });
    r.add("PUT", "/v1/profile/password", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::PasswordChange c;
        c.password = *body.string("password", true, 1024);
        c.current_password = body.string("current_password", false, 1024);
        body.finish();
        ctx.iam.sessions.set_password(ctx.principal, c);
        return not_cached(no_content());
    });
}

}  // namespace portal::api
