#include "keyd/store/tickets_table.h"

#include "keyd/store/connection.h"

namespace portal::store {
namespace {

#define PORTAL_TICKET_COLS                                                                                  \
    "t.id, t.subject, t.status, t.created_by, t.created_at, t.updated_at, t.closed_at,"                     \
    " (SELECT count(*) FROM ticket_messages m WHERE m.ticket_id = t.id)"

Ticket read_ticket(const sqlite::Statement& s) {
    Ticket t;
    t.id = s.column_text(0);
    t.subject = s.column_text(1);
    t.status = s.column_text(2);
    t.created_by = s.column_optional_text(3);
    t.created_at = s.column_text(4);
    t.updated_at = s.column_text(5);
    t.closed_at = s.column_optional_text(6);
    t.message_count = s.column_int(7);
    return t;
}

void insert_message(Connection& conn, const std::string& ticket_id, const TicketMessage& m) {
    Query q(conn, "INSERT INTO ticket_messages (id, ticket_id, author_id, author_name, body, created_at)"
                  " VALUES (?, ?, ?, ?, ?, ?)");
    q->bind_all(m.id, ticket_id, m.author_id, m.author_name, m.body, m.created_at);
    q->run();
}

}  // namespace

std::vector<Ticket> TicketsTable::of_account(const std::string& account_id, const std::optional<std::string>& status,
                                             const Page& page) {
    return conn_.locked([&] {
        std::vector<Ticket> out;
        Query q(conn_, "SELECT " PORTAL_TICKET_COLS " FROM tickets t WHERE t.account_id = ?"
                       " AND (? IS NULL OR t.status = ?) ORDER BY t.created_at DESC, t.id DESC LIMIT ? OFFSET ?");
        q->bind_all(account_id, status, status, page.limit, page.offset);
        while (q->step()) out.push_back(read_ticket(*q));
        return out;
    });
}

std::int64_t TicketsTable::count(const std::string& account_id, const std::optional<std::string>& status) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT count(*) FROM tickets WHERE account_id = ? AND (? IS NULL OR status = ?)");
        q->bind_all(account_id, status, status);
        return q->step() ? q->column_int(0) : 0;
    });
}

std::optional<Ticket> TicketsTable::get(const std::string& account_id, const std::string& id) {
    return conn_.locked([&]() -> std::optional<Ticket> {
        Query q(conn_, "SELECT " PORTAL_TICKET_COLS " FROM tickets t WHERE t.account_id = ? AND t.id = ?");
        q->bind_all(account_id, id);
        if (!q->step()) return std::nullopt;
        Ticket t = read_ticket(*q);
        Query m(conn_, "SELECT id, author_id, author_name, body, created_at FROM ticket_messages"
                       " WHERE ticket_id = ? ORDER BY seq");
        m->bind(1, id);
        while (m->step())
            t.messages.push_back({m->column_text(0), m->column_optional_text(1), m->column_text(2), m->column_text(3),
                                  m->column_text(4)});
        return t;
    });
}

void TicketsTable::insert(const std::string& account_id, const Ticket& t, const TicketMessage& first) {
    conn_.write_untracked([&] {
        Query q(conn_, "INSERT INTO tickets (id, account_id, subject, status, created_by, created_at, updated_at)"
                       " VALUES (?, ?, ?, 'open', ?, ?, ?)");
        q->bind_all(t.id, account_id, t.subject, t.created_by, t.created_at, t.updated_at);
        q->run();
        insert_message(conn_, t.id, first);
    });
}

TicketsTable::AddResult TicketsTable::add_message(const std::string& account_id, const std::string& ticket_id,
                                                  const TicketMessage& m, std::int64_t max_messages) {
    AddResult result = AddResult::added;
    conn_.write_untracked([&] {
        Query q(conn_, "SELECT t.status, (SELECT count(*) FROM ticket_messages m WHERE m.ticket_id = t.id)"
                       " FROM tickets t WHERE t.account_id = ? AND t.id = ?");
        q->bind_all(account_id, ticket_id);
        if (!q->step()) {
            result = AddResult::no_such_ticket;
        } else if (q->column_text(0) != "open") {
            result = AddResult::closed;
        } else if (q->column_int(1) >= max_messages) {
            result = AddResult::full;
        }
        q->reset();
        if (result != AddResult::added) return;
        insert_message(conn_, ticket_id, m);
        Query u(conn_, "UPDATE tickets SET updated_at = ? WHERE id = ?");
        u->bind_all(m.created_at, ticket_id);
        u->run();
    });
    return result;
}

bool TicketsTable::close(const std::string& account_id, const std::string& id, const std::string& at) {
    bool found = false;
    conn_.write_untracked([&] {
        Query q(conn_, "SELECT 1 FROM tickets WHERE account_id = ? AND id = ?");
        q->bind_all(account_id, id);
        found = q->step();
        q->reset();
        if (!found) return;
        Query u(conn_, "UPDATE tickets SET status = 'closed', closed_at = ?, updated_at = ? WHERE id = ? AND status = 'open'");
        u->bind_all(at, at, id);
        u->run();
    });
    return found;
}

}  // namespace portal::store
