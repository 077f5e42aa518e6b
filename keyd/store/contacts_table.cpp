#include "keyd/store/contacts_table.h"

#include "keyd/store/connection.h"

namespace portal::store {
namespace {

#define PORTAL_CONTACT_COLS "id, name, email, phone, notification_roles, created_at, updated_at"

// Roles are stored as one comma-separated column: a fixed vocabulary without commas.
std::string join_roles(const std::vector<std::string>& roles) {
    std::string out;
    for (const auto& r : roles) out += (out.empty() ? "" : ",") + r;
    return out;
}

std::vector<std::string> split_roles(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < s.size()) {
        auto end = s.find(',', start);
        if (end == std::string::npos) end = s.size();
        if (end > start) out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

Contact read_contact(const sqlite::Statement& s) {
    Contact c;
    c.id = s.column_text(0);
    c.name = s.column_text(1);
    c.email = s.column_text(2);
    c.phone = s.column_text(3);
    c.notification_roles = split_roles(s.column_text(4));
    c.created_at = s.column_text(5);
    c.updated_at = s.column_text(6);
    return c;
}

}  // namespace

std::vector<Contact> ContactsTable::of_account(const std::string& account_id, const Page& page) {
    return conn_.locked([&] {
        std::vector<Contact> out;
        Query q(conn_, "SELECT " PORTAL_CONTACT_COLS " FROM contacts WHERE account_id = ?"
                       " ORDER BY name, id LIMIT ? OFFSET ?");
        q->bind_all(account_id, page.limit, page.offset);
        while (q->step()) out.push_back(read_contact(*q));
        return out;
    });
}

std::int64_t ContactsTable::count(const std::string& account_id) {
    return conn_.locked([&] {
        Query q(conn_, "SELECT count(*) FROM contacts WHERE account_id = ?");
        q->bind(1, account_id);
        return q->step() ? q->column_int(0) : 0;
    });
}

std::optional<Contact> ContactsTable::get(const std::string& account_id, const std::string& id) {
    return conn_.locked([&]() -> std::optional<Contact> {
        Query q(conn_, "SELECT " PORTAL_CONTACT_COLS " FROM contacts WHERE account_id = ? AND id = ?");
        q->bind_all(account_id, id);
        if (!q->step()) return std::nullopt;
        return read_contact(*q);
    });
}

std::vector<Contact> ContactsTable::with_role(const std::string& account_id, std::string_view role) {
    return conn_.locked([&] {
        std::vector<Contact> out;
        Query q(conn_, "SELECT " PORTAL_CONTACT_COLS " FROM contacts WHERE account_id = ?"
                       " AND ',' || notification_roles || ',' LIKE '%,' || ? || ',%' ORDER BY name, id");
        q->bind_all(account_id, role);
        while (q->step()) out.push_back(read_contact(*q));
        return out;
    });
}

void ContactsTable::insert(const std::string& account_id, const Contact& c) {
    conn_.write_untracked([&] {
        Query q(conn_, "INSERT INTO contacts (account_id, " PORTAL_CONTACT_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        q->bind_all(account_id, c.id, c.name, c.email, c.phone, join_roles(c.notification_roles), c.created_at,
                    c.updated_at);
        q->run();
    });
}

std::optional<Contact> ContactsTable::modify(const std::string& account_id, const std::string& id,
                                             const std::function<Contact(const Contact&)>& change) {
    std::optional<Contact> out;
    conn_.write_untracked([&] {
        Query q(conn_, "SELECT " PORTAL_CONTACT_COLS " FROM contacts WHERE account_id = ? AND id = ?");
        q->bind_all(account_id, id);
        if (!q->step()) return;
        const Contact before = read_contact(*q);
        q->reset();
        Contact c = change(before);
        Query u(conn_, "UPDATE contacts SET name = ?, email = ?, phone = ?, notification_roles = ?, updated_at = ?"
                       " WHERE account_id = ? AND id = ?");
        u->bind_all(c.name, c.email, c.phone, join_roles(c.notification_roles), c.updated_at, account_id, id);
        u->run();
        out = std::move(c);
    });
    return out;
}

bool ContactsTable::remove(const std::string& account_id, const std::string& id) {
    bool found = false;
    conn_.write_untracked([&] {
        Query q(conn_, "DELETE FROM contacts WHERE account_id = ? AND id = ? RETURNING id");
        q->bind_all(account_id, id);
        found = q->step();
    });
    return found;
}

}  // namespace portal::store
