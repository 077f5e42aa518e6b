// An account's support tickets and their messages (PORTAL.md §1). Not IAM state: writes move
// no revision.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keyd/store/types.h"
#include "shared/model.h"

namespace portal::store {

class Connection;

class TicketsTable {
public:
    explicit TicketsTable(Connection& conn) : conn_(conn) {}

    // Newest first, with message_count (messages not filled); `status` filters when set.
    std::vector<Ticket> of_account(const std::string& account_id, const std::optional<std::string>& status,
                                   const Page& page);
    std::int64_t count(const std::string& account_id, const std::optional<std::string>& status);
    // With its messages, oldest first.
    std::optional<Ticket> get(const std::string& account_id, const std::string& id);
    // The ticket and its first message, in one transaction.
    void insert(const std::string& account_id, const Ticket& t, const TicketMessage& first);
    enum class AddResult { added, no_such_ticket, closed, full };
    // Adds to an open ticket holding fewer than `max_messages` (checked in the same transaction).
    AddResult add_message(const std::string& account_id, const std::string& ticket_id, const TicketMessage& m,
                          std::int64_t max_messages);
    // false: no such ticket. A closed ticket stays as it was.
    bool close(const std::string& account_id, const std::string& id, const std::string& at);

private:
    Connection& conn_;
};

}  // namespace portal::store
