// /v1/account/users
#include "keyd/api/json_body.h"
#include "keyd/api/pagination.h"
#include "keyd/api/router.h"
#include "keyd/api/views.h"
#include "keyd/iam/errors.h"

namespace portal::api {
namespace {

Role role_field(JsonBody& body, bool required, Role dflt, bool* given = nullptr) {
    auto s = body.string("role", required, 16);
    if (given) *given = s.has_value();
    if (!s) return dflt;
    auto r = parse_role(*s);
    if (!r || *r == Role::support) throw iam::ApiError::unprocessable("role", "must be owner or manager");
    return *r;
}

std::optional<std::string> query(const Request& req, const char* name) {
    auto it = req.query.find(name);
    if (it == req.query.end()) return std::nullopt;
    return it->second;
}

}  // namespace

void register_user_routes(Router& r) {
    r.add("GET", "/v1/account/users", [](Context& ctx) {
        auto pg = parse_page(ctx.req);
        iam::UserFilter f;
        f.search_pattern = query(ctx.req, "search_pattern");
        if (auto s = query(ctx.req, "role")) {
            f.role = parse_role(*s);
            if (!f.role) throw iam::ApiError::bad_request("role must be owner, manager or support");
        }
        if (auto s = query(ctx.req, "status")) {
            f.status = parse_member_status(*s);
            if (!f.status) throw iam::ApiError::bad_request("status must be invited, active or deactivated");
        }
        auto c = ctx.caller();
        auto page = ctx.iam.members.list(c, f, pg);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& au : page.items) out.push_back(user_json(au));
        auto resp = json_response(200, out);
        add_page_headers(resp, ctx.req, pg, page.total);
        return resp;
    });
    r.add("POST", "/v1/account/users", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::NewUser u;
        u.email = *body.email("email", true);
        u.name = *body.string("name", true, 100);
        u.role = role_field(body, true, Role::manager);
        if (auto s = body.string("status", false, 16)) {
            auto st = parse_member_status(*s);
            if (!st || *st == MemberStatus::deactivated)
                throw iam::ApiError::unprocessable("status", "must be invited or active");
            u.status = *st;
        }
        body.finish();
        auto c = ctx.caller();
        return json_response(201, user_json(ctx.iam.members.create(c, u)));
    });
    r.add("GET", "/v1/account/users/{id}", [](Context& ctx) {
        auto c = ctx.caller();
        return json_response(200, user_json(ctx.iam.members.get(c, ctx.param("id"))));
    });
    r.add("PUT", "/v1/account/users/{id}", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::UserUpdate u;
        u.name = body.string("name", false, 100);
        bool role_given = false;
        Role role = role_field(body, false, Role::manager, &role_given);
        if (role_given) u.role = role;
        if (auto s = body.string("status", false, 16)) {
            u.status = parse_member_status(*s);
            if (!u.status) throw iam::ApiError::unprocessable("status", "must be active or deactivated");
        }
        body.finish();
        if (u.name && u.name->empty()) throw iam::ApiError::unprocessable("name", "must not be empty");
        auto c = ctx.caller();
        return json_response(200, user_json(ctx.iam.members.update(c, ctx.param("id"), u)));
    });
    r.add("DELETE", "/v1/account/users/{id}", [](Context& ctx) {
        auto c = ctx.caller();
        ctx.iam.members.remove(c, ctx.param("id"));
        return no_content();
    });
    r.add("POST", "/v1/account/users/{id}/tfa/reset", [](Context& ctx) {
        JsonBody(ctx.req).finish();
        auto c = ctx.caller();
        ctx.iam.members.reset_tfa(c, ctx.param("id"));
        return no_content();
    });
}

}  // namespace portal::api
