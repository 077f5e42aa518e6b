#include <catch2/catch.hpp>

#include "keyd/api/rate_limiter.h"

namespace rate_limiter_test {

using portal::api::RateLimiter;
using namespace std::chrono_literals;

TEST_CASE("rate limiter: a budget per key and minute, refused requests counted too", "[ratelimit]") {
    RateLimiter r(3);
    const auto t0 = RateLimiter::Clock::time_point{} + 1h;
    for (int i = 0; i < 3; ++i) {
        const auto d = r.take("a", t0 + std::chrono::seconds(i));
        CHECK(d.allowed);
        CHECK(d.limit == 3);
        CHECK(d.remaining == 2 - i);
    }
    const auto refused = r.take("a", t0 + 20s);
    CHECK_FALSE(refused.allowed);
    CHECK(refused.remaining == 0);
    CHECK(refused.reset_seconds == 40);       // the window opened at t0
    CHECK(r.take("b", t0 + 20s).allowed);     // another key has its own budget
    CHECK_FALSE(r.take("a", t0 + 59s).allowed);
    const auto fresh = r.take("a", t0 + 60s);  // a new window
    CHECK(fresh.allowed);
    CHECK(fresh.remaining == 2);
    CHECK(fresh.reset_seconds == 60);
}

TEST_CASE("rate limiter: memory stays bounded under a flood of distinct keys", "[ratelimit]") {
    RateLimiter r(10, 100);
    const auto t0 = RateLimiter::Clock::time_point{} + 1h;
    for (int i = 0; i < 10000; ++i) r.take("addr-" + std::to_string(i), t0);
    CHECK(r.keys() == 100);
    // Ended windows are forgotten as time passes.
    r.take("late", t0 + 61s);
    CHECK(r.keys() == 1);
}

}  // namespace rate_limiter_test
