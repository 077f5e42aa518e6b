// TicketService on the embedded store.
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/ticket_service.h"

namespace portal::iam::authority {

class Tickets final : public TicketService {
public:
    explicit Tickets(Backend& b) : b_(b) {}
    PageResult<Ticket> list(const Caller& c, const PageRequest& page, const std::optional<std::string>& status) override;
    Ticket get(const Caller& c, const std::string& id) override;
    Ticket open(const Caller& c, const NewTicket& t) override;
    TicketMessage add_message(const Caller& c, const std::string& id, const std::string& body) override;
    Ticket close(const Caller& c, const std::string& id) override;

private:
    Backend& b_;
};

}  // namespace portal::iam::authority
