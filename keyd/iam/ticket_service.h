// The account's support tickets (PORTAL.md §1): any active member opens one, writes to it
// and closes it; a closed ticket takes no more messages.
#pragma once
#include <optional>
#include <string>

#include "keyd/iam/caller.h"
#include "keyd/iam/paging.h"
#include "shared/model.h"

namespace portal::iam {

inline constexpr std::size_t kTicketSubjectMax = 200;   // bytes
inline constexpr std::size_t kTicketBodyMax = 16384;    // bytes, per message
inline constexpr std::int64_t kTicketMessagesMax = 500; // per ticket

struct NewTicket {
    std::string subject, body;
};

class TicketService {
public:
    virtual ~TicketService() = default;
    // Newest first; `status` "open" or "closed" filters.
    virtual PageResult<Ticket> list(const Caller& c, const PageRequest& page, const std::optional<std::string>& status) = 0;
    virtual Ticket get(const Caller& c, const std::string& id) = 0;  // with its messages
    virtual Ticket open(const Caller& c, const NewTicket& t) = 0;
    // 409 TICKET_CLOSED on a closed ticket, or when it holds kTicketMessagesMax already.
    virtual TicketMessage add_message(const Caller& c, const std::string& id, const std::string& body) = 0;
    virtual Ticket close(const Caller& c, const std::string& id) = 0;  // closing a closed one: as it is
};

}  // namespace portal::iam
