// Ends support access at its expiry time, not at the next change (the authority's main thread):
// a timer armed for the earliest expiry of a grant, re-armed after every write (a grant may have
// moved it) and at most kSupportExpiryRecheck apart (the wall clock may jump).
#pragma once
#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "keyd/iam/support_service.h"

namespace portal::modes {

inline constexpr std::chrono::seconds kSupportExpiryRecheck{60};

class SupportExpiry {
public:
    SupportExpiry(boost::asio::io_context& io, iam::SupportService& support) : timer_(io), support_(support) {}
    // Ends what has expired now and arms the timer for the next expiry.
    void run();
    // After a write: re-arms for the (possibly earlier) next expiry, from the io thread.
    void poke();

private:
    boost::asio::steady_timer timer_;
    iam::SupportService& support_;
    bool running_ = false;  // run() writes, and its own write pokes: not again from inside
};

}  // namespace portal::modes
