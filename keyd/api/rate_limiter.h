// Request budgets over HTTPS: so many requests per minute for each client address (checked
// before the credential, so guessing tokens costs the guesser) and for each credential
// (shared by every address it is used from). Fixed one-minute windows: simple to explain in
// X-RateLimit-* headers ("N left until the window resets in S seconds").
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace portal::api {

struct RateDecision {
    bool allowed = true;
    std::int64_t limit = 0;
    std::int64_t remaining = 0;
    std::int64_t reset_seconds = 0;  // until the window ends (Retry-After when refused)
};

class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;

    // `per_minute` requests per key and window; `max_keys` bounds the memory a flood of
    // distinct keys can take (the oldest windows go first; a forgotten key starts afresh).
    explicit RateLimiter(std::int64_t per_minute, std::size_t max_keys = 100000);

    // Counts one request for `key` (refused requests count too: hammering does not help).
    RateDecision take(const std::string& key, Clock::time_point now = Clock::now());

    std::size_t keys() const;

private:
    struct Window {
        std::string key;
        Clock::time_point start;
        std::int64_t count = 0;
    };
    using Order = std::list<Window>;  // by window start, oldest first

    const std::int64_t per_minute_;
    const std::size_t max_keys_;
    mutable std::mutex mu_;
    Order order_;
    std::unordered_map<std::string, Order::iterator> windows_;
};

}  // namespace portal::api
