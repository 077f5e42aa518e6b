// /v1/api_tokens: the caller's own API tokens. The secret is in the create response only.
#include "keyd/api/json_body.h"
#include "keyd/api/router.h"
#include "keyd/api/views.h"
#include "keyd/iam/errors.h"

namespace portal::api {

void register_api_token_routes(Router& r) {
    r.add("GET", "/v1/api_tokens", [](Context& ctx) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& t : ctx.iam.tokens.list(ctx.principal)) out.push_back(api_token_json(t));
        return json_response(200, out);
    });
    r.add("POST", "/v1/api_tokens", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::NewApiToken t;
        t.name = *body.string("name", true, 64);
        if (t.name.empty()) throw iam::ApiError::unprocessable("name", "must not be empty");
        if (auto level = body.string("access_level", false, 16)) {
            auto access = parse_token_access(*level);
            if (!access) throw iam::ApiError::unprocessable("access_level", "must be read_only or full");
            t.access = *access;
        }
        // A minute to ten years; none: until deleted.
        if (auto in = body.integer("expires_in", false, 60, 10LL * 366 * 86400)) t.expires_in = std::chrono::seconds(*in);
        body.finish();
        auto created = ctx.iam.tokens.create(ctx.principal, t);
        nlohmann::json out = api_token_json(created.token);
        out["token"] = created.secret;  // shown once
        return json_response(201, out);
    });
    r.add("DELETE", "/v1/api_tokens/{token_id}", [](Context& ctx) {
        ctx.iam.tokens.remove(ctx.principal, ctx.param("token_id"));
        return no_content();
    });
}

}  // namespace portal::api
