// /v1/profile and 2FA enrolment
#include "keyd/api/json_body.h"
#include "keyd/api/router.h"
#include "keyd/api/views.h"
#include "keyd/iam/errors.h"

namespace portal::api {
namespace {

nlohmann::json profile_json(const iam::Profile& p) {
    nlohmann::json j = user_json({p.user, {}});
    j.erase("role");    // roles are per account: see `accounts`
    j.erase("status");
    j["accounts"] = nlohmann::json::array();
    for (const auto& [a, role] : p.accounts) j["accounts"].push_back(account_membership_json(a, role));
    return j;
}

std::string code_field(JsonBody& body) {
    auto code = *body.string("code", true, 32);
    body.finish();
    return code;
}

}  // namespace

void register_profile_routes(Router& r) {
    r.add("GET", "/v1/profile", [](Context& ctx) { return json_response(200, profile_json(ctx.iam.profile.get(ctx.principal))); });
    r.add("PUT", "/v1/profile", [](Context& ctx) {
        JsonBody body(ctx.req);
        auto name = body.string("name", false, 100);
        body.finish();
        if (name && name->empty()) throw iam::ApiError::unprocessable("name", "must not be empty");
        return json_response(200, profile_json(ctx.iam.profile.update(ctx.principal, name)));
    });
    r.add("GET", "/v1/profile/invitations", [](Context& ctx) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& i : ctx.iam.invitations.list(ctx.principal)) out.push_back(invitation_json(i));
        return json_response(200, out);
    });
    r.add("POST", "/v1/profile/invitations/{account_id}/accept", [](Context& ctx) {
        JsonBody(ctx.req).finish();
        auto [a, role] = ctx.iam.invitations.accept(ctx.principal, ctx.param("account_id"));
        return json_response(200, account_membership_json(a, role));
    });
    r.add("POST", "/v1/profile/invitations/{account_id}/decline", [](Context& ctx) {
        JsonBody(ctx.req).finish();
        ctx.iam.invitations.decline(ctx.principal, ctx.param("account_id"));
        return no_content();
    });
    r.add("POST", "/v1/profile/tfa/enable", [](Context& ctx) {
        JsonBody(ctx.req).finish();
        auto c = ctx.caller();
        auto e = ctx.iam.tfa.enable(c);
        auto resp = json_response(201, {{"secret", e.secret_base32}, {"otpauth_uri", e.otpauth_uri}, {"expires_at", e.expires_at}});
        resp.headers.emplace_back("cache-control", "no-store");
        return resp;
    });
    r.add("POST", "/v1/profile/tfa/confirm", [](Context& ctx) {
        JsonBody body(ctx.req);
        auto code = code_field(body);
        auto c = ctx.caller();
        auto codes = ctx.iam.tfa.confirm(c, code);
        auto resp = json_response(200, {{"recovery_codes", codes}});
        resp.headers.emplace_back("cache-control", "no-store");
        return resp;
    });
    r.add("POST", "/v1/profile/tfa/disable", [](Context& ctx) {
        JsonBody body(ctx.req);
        auto code = code_field(body);
        auto c = ctx.caller();
        ctx.iam.tfa.disable(c, code);
        return no_content();
    });
}

}  // namespace portal::api
