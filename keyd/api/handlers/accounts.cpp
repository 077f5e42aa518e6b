// /v1/account and /v1/accounts
#include "keyd/api/json_body.h"
#include "keyd/api/router.h"
#include "keyd/api/views.h"
#include "keyd/iam/errors.h"

namespace portal::api {

void register_account_routes(Router& r) {
    r.add("GET", "/v1/account", [](Context& ctx) {
        auto c = ctx.caller();
        return json_response(200, account_json(ctx.iam.accounts.get(c)));
    });
    r.add("PUT", "/v1/account", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::AccountUpdate u;
        u.name = body.string("name", false, 100);
        u.enforce_2fa = body.boolean("enforce_2fa", false);
        u.confirm = body.string("confirm", false, 64);
        body.finish();
        if (u.name && u.name->empty()) throw iam::ApiError::unprocessable("name", "must not be empty");
        auto c = ctx.caller();
        return json_response(200, account_json(ctx.iam.accounts.update(c, u)));
    });
    r.add("GET", "/v1/accounts", [](Context& ctx) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& [a, role] : ctx.iam.accounts.list(ctx.principal)) out.push_back(account_membership_json(a, role));
        return json_response(200, out);
    });
    r.add("POST", "/v1/accounts", [](Context& ctx) {
        JsonBody body(ctx.req);
        auto name = body.string("name", true, 100);
        auto owner = body.string("owner_user_id", false, 64);
        body.finish();
        auto [a, role] = ctx.iam.accounts.create(ctx.principal, *name, owner);
        return json_response(201, account_membership_json(a, role));
    });
}

}  // namespace portal::api
