#include "keyd/modes/support_expiry.h"

#include <algorithm>
#include <exception>

#include <boost/asio/post.hpp>

#include "keyd/log/log.h"

namespace portal::modes {

void SupportExpiry::run() {
    if (running_) return;
    running_ = true;
    using Clock = std::chrono::system_clock;
    std::chrono::steady_clock::duration wait = kSupportExpiryRecheck;
    try {
        if (auto next = support_.expire_due(Clock::now())) {
            // Not sooner than 200 ms: a timer that fires a hair early finds nothing due, and
            // must not spin until the second turns.
            const auto until = std::chrono::duration_cast<std::chrono::steady_clock::duration>(*next - Clock::now());
            wait = std::clamp<std::chrono::steady_clock::duration>(until, std::chrono::milliseconds(200),
                                                                   kSupportExpiryRecheck);
        }
    } catch (const std::exception& e) {
        // The store failed to write: tried again at the next recheck, meanwhile logged.
        log::error("support access: could not end expired grants", {{"error", e.what()}});
        wait = std::chrono::seconds(5);
    }
    running_ = false;
    timer_.expires_after(wait);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) run();
    });
}

void SupportExpiry::poke() {
    if (running_) return;
    boost::asio::post(timer_.get_executor(), [this] { run(); });
}

}  // namespace portal::modes
