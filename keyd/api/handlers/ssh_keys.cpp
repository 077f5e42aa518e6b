// /v1/ssh_keys
#include "keyd/api/json_body.h"
#include "keyd/api/pagination.h"
#include "keyd/api/router.h"
#include "keyd/api/views.h"
#include "keyd/iam/errors.h"

namespace portal::api {

void register_ssh_key_routes(Router& r) {
    r.add("GET", "/v1/ssh_keys", [](Context& ctx) {
        auto pg = parse_page(ctx.req);
        iam::KeyFilter f;
        if (auto it = ctx.req.query.find("user_id"); it != ctx.req.query.end()) f.user_id = it->second;
        if (auto it = ctx.req.query.find("label_selector"); it != ctx.req.query.end()) {
            auto eq = it->second.find('=');
            if (eq == std::string::npos || eq == 0) throw iam::ApiError::bad_request("label_selector must be key=value");
            f.label = std::make_pair(it->second.substr(0, eq), it->second.substr(eq + 1));
        }
        auto c = ctx.caller();
        auto page = ctx.iam.keys.list(c, f, pg);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& k : page.items) out.push_back(ssh_key_json(k));
        auto resp = json_response(200, out);
        add_page_headers(resp, ctx.req, pg, page.total);
        return resp;
    });
    r.add("POST", "/v1/ssh_keys", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::NewKey k;
        k.name = *body.string("name", true, 64);
        k.public_key = *body.string("public_key", true, 16 * 1024);
        if (auto l = body.labels("labels")) k.labels = *l;
        k.user_id = body.string("user_id", false, 64);
        body.finish();
        auto c = ctx.caller();
        return json_response(201, ssh_key_json(ctx.iam.keys.add(c, k)));
    });
    r.add("GET", "/v1/ssh_keys/{fingerprint}", [](Context& ctx) {
        auto c = ctx.caller();
        return json_response(200, ssh_key_json(ctx.iam.keys.get(c, ctx.param("fingerprint"))));
    });
    r.add("PUT", "/v1/ssh_keys/{fingerprint}", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::KeyUpdate u;
        u.name = body.string("name", false, 64);
        u.labels = body.labels("labels");
        body.finish();
        if (u.name && u.name->empty()) throw iam::ApiError::unprocessable("name", "must not be empty");
        auto c = ctx.caller();
        return json_response(200, ssh_key_json(ctx.iam.keys.update(c, ctx.param("fingerprint"), u)));
    });
    r.add("DELETE", "/v1/ssh_keys/{fingerprint}", [](Context& ctx) {
        auto c = ctx.caller();
        ctx.iam.keys.remove(c, ctx.param("fingerprint"));
        return no_content();
    });
}

}  // namespace portal::api
