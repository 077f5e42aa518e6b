#include "keyd/api/rate_limiter.h"

#include <algorithm>
#include <iterator>

namespace portal::api {
namespace {

constexpr auto kWindow = std::chrono::minutes(1);

}  // namespace

RateLimiter::RateLimiter(std::int64_t per_minute, std::size_t max_keys)
    : per_minute_(std::max<std::int64_t>(1, per_minute)), max_keys_(std::max<std::size_t>(1, max_keys)) {}

RateDecision RateLimiter::take(const std::string& key, Clock::time_point now) {
    std::lock_guard lock(mu_);
    // Windows that ended are forgotten, oldest first: O(1) per request, amortized.
    while (!order_.empty() && now - order_.front().start >= kWindow) {
        windows_.erase(order_.front().key);
        order_.pop_front();
    }
    auto it = windows_.find(key);
    if (it == windows_.end()) {
        // Full of live windows (a flood of distinct addresses): the oldest goes, and that
        // key starts afresh if it comes back.
        if (windows_.size() >= max_keys_) {
            windows_.erase(order_.front().key);
            order_.pop_front();
        }
        order_.push_back(Window{key, now, 0});
        it = windows_.emplace(key, std::prev(order_.end())).first;
    }
    Window& w = *it->second;
    ++w.count;
    RateDecision d;
    d.limit = per_minute_;
    d.allowed = w.count <= per_minute_;
    d.remaining = std::max<std::int64_t>(0, per_minute_ - w.count);
    const auto left = std::chrono::ceil<std::chrono::seconds>(w.start + kWindow - now);
    d.reset_seconds = std::clamp<std::int64_t>(left.count(), 1, 60);
    return d;
}

std::size_t RateLimiter::keys() const {
    std::lock_guard lock(mu_);
    return windows_.size();
}

}  // namespace portal::api
