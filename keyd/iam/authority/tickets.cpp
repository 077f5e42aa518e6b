#include "keyd/iam/authority/tickets.h"

#include "keyd/iam/errors.h"
#include "keyd/store/timestamp.h"
#include "shared/random.h"

namespace portal::iam::authority {
namespace {

ApiError ticket_not_found() { return ApiError::not_found("ticket not found"); }

void check_text(const std::string& field, const std::string& text, std::size_t max) {
    if (text.empty()) throw ApiError::unprocessable(field, "must not be empty");
    if (text.size() > max) throw ApiError::unprocessable(field, "must be at most " + std::to_string(max) + " bytes");
}

// Who wrote it, as the ticket will show it: the member's name (or email), "root" on the socket.
TicketMessage message_from(const Caller& c, const std::string& body, const std::string& at) {
    TicketMessage m;
    m.id = random_id("msg_");
    if (c.principal.user) {
        m.author_id = c.principal.user->id;
        m.author_name = c.principal.user->name.empty() ? c.principal.user->email : c.principal.user->name;
    } else {
        m.author_name = "root";
    }
    m.body = body;
    m.created_at = at;
    return m;
}

}  // namespace

PageResult<Ticket> Tickets::list(const Caller& c, const PageRequest& page, const std::optional<std::string>& status) {
    authorize({c.principal, &c}, Operation::list_tickets);
    if (status && *status != "open" && *status != "closed")
        throw ApiError::bad_request("status must be open or closed");
    PageResult<Ticket> r;
    b_.store.read([&] {
        r.items = b_.store.tickets().of_account(c.account.id, status, to_store_page(page));
        r.total = b_.store.tickets().count(c.account.id, status);
    });
    return r;
}

Ticket Tickets::get(const Caller& c, const std::string& id) {
    authorize({c.principal, &c}, Operation::get_ticket);
    auto t = b_.store.tickets().get(c.account.id, id);
    if (!t) throw ticket_not_found();
    return *t;
}

Ticket Tickets::open(const Caller& c, const NewTicket& n) {
    authorize({c.principal, &c}, Operation::open_ticket);
    check_text("subject", n.subject, kTicketSubjectMax);
    check_text("body", n.body, kTicketBodyMax);
    Ticket t;
    t.id = random_id("tkt_");
    t.subject = n.subject;
    t.status = "open";
    t.created_at = t.updated_at = store::now_rfc3339();
    if (c.principal.user) t.created_by = c.principal.user->id;
    const TicketMessage first = message_from(c, n.body, t.created_at);
    b_.write_quietly([&] { b_.store.tickets().insert(c.account.id, t, first); });
    t.message_count = 1;
    t.messages.push_back(first);
    return t;
}

TicketMessage Tickets::add_message(const Caller& c, const std::string& id, const std::string& body) {
    authorize({c.principal, &c}, Operation::write_ticket);
    check_text("body", body, kTicketBodyMax);
    const TicketMessage m = message_from(c, body, store::now_rfc3339());
    using R = store::TicketsTable::AddResult;
    R result = R::added;
    b_.write_quietly([&] { result = b_.store.tickets().add_message(c.account.id, id, m, kTicketMessagesMax); });
    switch (result) {
        case R::added: return m;
        case R::no_such_ticket: throw ticket_not_found();
        case R::closed: throw ApiError(409, "TICKET_CLOSED", "this ticket is closed: open a new one");
        case R::full:
            throw ApiError(409, "TICKET_CLOSED",
                           "this ticket has " + std::to_string(kTicketMessagesMax) + " messages, the most one holds: open a new one");
    }
    throw ticket_not_found();  // not reached
}

Ticket Tickets::close(const Caller& c, const std::string& id) {
    authorize({c.principal, &c}, Operation::write_ticket);
    bool found = false;
    b_.write_quietly([&] { found = b_.store.tickets().close(c.account.id, id, store::now_rfc3339()); });
    if (!found) throw ticket_not_found();
    auto t = b_.store.tickets().get(c.account.id, id);
    if (!t) throw ticket_not_found();
    return *t;
}

}  // namespace portal::iam::authority
