// /v1/support/tickets: an account's support tickets and their messages (any active member:
// the guard). Subjects and messages are text kept as sent; nothing here interprets them.
#include "keyd/api/json_body.h"
#include "keyd/api/pagination.h"
#include "keyd/api/router.h"
#include "keyd/iam/errors.h"

namespace portal::api {
namespace {

nlohmann::json message_json(const TicketMessage& m) {
    return {{"id", m.id},
            {"author_id", m.author_id ? nlohmann::json(*m.author_id) : nlohmann::json(nullptr)},
            {"author_name", m.author_name},
            {"body", m.body},
            {"created_at", m.created_at}};
}

// In lists, without the messages; one ticket read whole has them.
nlohmann::json ticket_json(const Ticket& t, bool with_messages) {
    nlohmann::json j{{"id", t.id},
                     {"subject", t.subject},
                     {"status", t.status},
                     {"created_by", t.created_by ? nlohmann::json(*t.created_by) : nlohmann::json(nullptr)},
                     {"created_at", t.created_at},
                     {"updated_at", t.updated_at},
                     {"closed_at", t.closed_at ? nlohmann::json(*t.closed_at) : nlohmann::json(nullptr)},
                     {"message_count", t.message_count}};
    if (with_messages) {
        nlohmann::json messages = nlohmann::json::array();
        for (const auto& m : t.messages) messages.push_back(message_json(m));
        j["messages"] = std::move(messages);
    }
    return j;
}

}  // namespace

void register_support_ticket_routes(Router& r) {
    r.add("GET", "/v1/support/tickets", [](Context& ctx) {
        auto pg = parse_page(ctx.req);
        std::optional<std::string> status;
        if (auto it = ctx.req.query.find("status"); it != ctx.req.query.end()) status = it->second;
        auto c = ctx.caller();
        auto page = ctx.iam.tickets.list(c, pg, status);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& t : page.items) out.push_back(ticket_json(t, false));
        auto resp = json_response(200, out);
        add_page_headers(resp, ctx.req, pg, page.total);
        return resp;
    });
    r.add("POST", "/v1/support/tickets", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::NewTicket t;
        t.subject = *body.string("subject", true, iam::kTicketSubjectMax);
        t.body = *body.multiline("body", true, iam::kTicketBodyMax);
        body.finish();
        auto c = ctx.caller();
        return json_response(201, ticket_json(ctx.iam.tickets.open(c, t), true));
    });
    r.add("GET", "/v1/support/tickets/{ticket_id}", [](Context& ctx) {
        auto c = ctx.caller();
        return json_response(200, ticket_json(ctx.iam.tickets.get(c, ctx.param("ticket_id")), true));
    });
    r.add("POST", "/v1/support/tickets/{ticket_id}/messages", [](Context& ctx) {
        JsonBody body(ctx.req);
        const auto text = *body.multiline("body", true, iam::kTicketBodyMax);
        body.finish();
        auto c = ctx.caller();
        return json_response(201, message_json(ctx.iam.tickets.add_message(c, ctx.param("ticket_id"), text)));
    });
    r.add("POST", "/v1/support/tickets/{ticket_id}/close", [](Context& ctx) {
        JsonBody body(ctx.req);
        body.finish();
        auto c = ctx.caller();
        return json_response(200, ticket_json(ctx.iam.tickets.close(c, ctx.param("ticket_id")), true));
    });
}

}  // namespace portal::api
