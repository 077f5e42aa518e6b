#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>

#include "keyd/tfa/failure_limiter.h"

namespace failure_limiter_test {

using portal::FailureLimiter;
using namespace std::chrono_literals;

namespace {

// A hand-driven clock; the limiter reads it through the injected function.
struct FakeClock {
    std::chrono::system_clock::time_point now{std::chrono::seconds{1700000000}};
    FailureLimiter::Clock fn() {
        return [this] { return now; };
    }
};

FailureLimiter::Policy default_policy() { return {5, 300s, 300s}; }

}  // namespace

TEST_CASE("failure limiter: 4 failures are fine, the 5th locks", "[failure_limiter]") {
    FakeClock clock;
    FailureLimiter limiter(default_policy(), clock.fn());
    CHECK_FALSE(limiter.locked_for("u1").has_value());
    for (int i = 0; i < 4; ++i) {
        limiter.record_failure("u1");
        clock.now += 1s;
        CHECK_FALSE(limiter.locked_for("u1").has_value());
    }
    limiter.record_failure("u1");
    auto locked = limiter.locked_for("u1");
    REQUIRE(locked.has_value());
    CHECK(*locked == 300s);
    // Other keys are unaffected.
    CHECK_FALSE(limiter.locked_for("u2").has_value());
}

TEST_CASE("failure limiter: locked_for counts down and the lock lifts after lockout", "[failure_limiter]") {
    FakeClock clock;
    FailureLimiter limiter(default_policy(), clock.fn());
    for (int i = 0; i < 5; ++i) limiter.record_failure("u1");
    clock.now += 100s;
    CHECK(limiter.locked_for("u1") == std::optional{200s});
    // Partial seconds round up, so Retry-After is never too early.
    clock.now += 1500ms;
    CHECK(limiter.locked_for("u1") == std::optional{199s});
    clock.now += 198s;
    CHECK(limiter.locked_for("u1") == std::optional{1s});
    // Failures while locked do not extend the lock.
    limiter.record_failure("u1");
    clock.now += 500ms;
    CHECK_FALSE(limiter.locked_for("u1").has_value());
    // After the lock a fresh count starts.
    for (int i = 0; i < 4; ++i) limiter.record_failure("u1");
    CHECK_FALSE(limiter.locked_for("u1").has_value());
    limiter.record_failure("u1");
    CHECK(limiter.locked_for("u1") == std::optional{300s});
}

TEST_CASE("failure limiter: failures older than the window do not count", "[failure_limiter]") {
    FakeClock clock;
    FailureLimiter limiter(default_policy(), clock.fn());
    for (int i = 0; i < 4; ++i) limiter.record_failure("u1");
    clock.now += 301s;
    limiter.record_failure("u1");
    CHECK_FALSE(limiter.locked_for("u1").has_value());
    // Sliding window: one failure at t=0 and three at t=100; at t=301 only those three count.
    FailureLimiter sliding(default_policy(), clock.fn());
    sliding.record_failure("u2");
    clock.now += 100s;
    for (int i = 0; i < 3; ++i) sliding.record_failure("u2");
    clock.now += 201s;
    sliding.record_failure("u2");
    CHECK_FALSE(sliding.locked_for("u2").has_value());
    sliding.record_failure("u2");
    CHECK(sliding.locked_for("u2") == std::optional{300s});
}

TEST_CASE("failure limiter: success clears failures", "[failure_limiter]") {
    FakeClock clock;
    FailureLimiter limiter(default_policy(), clock.fn());
    for (int i = 0; i < 4; ++i) limiter.record_failure("u1");
    limiter.record_success("u1");
    for (int i = 0; i < 4; ++i) limiter.record_failure("u1");
    CHECK_FALSE(limiter.locked_for("u1").has_value());
    limiter.record_failure("u1");
    CHECK(limiter.locked_for("u1").has_value());
    limiter.record_success("never-seen");
    CHECK_FALSE(limiter.locked_for("never-seen").has_value());
}

TEST_CASE("failure limiter: set_policy applies to later decisions", "[failure_limiter]") {
    FakeClock clock;
    FailureLimiter limiter(default_policy(), clock.fn());
    limiter.record_failure("u1");
    limiter.record_failure("u1");
    limiter.set_policy({3, 60s, 30s});
    limiter.record_failure("u1");
    CHECK(limiter.locked_for("u1") == std::optional{30s});
    // A shorter lockout on reload also shortens a lock already running.
    for (int i = 0; i < 5; ++i) limiter.record_failure("u2");
    limiter.set_policy({3, 60s, 30s});
    CHECK(limiter.locked_for("u2") == std::optional{30s});
    CHECK_THROWS_AS(limiter.set_policy({0, 60s, 30s}), std::invalid_argument);
    CHECK_THROWS_AS(limiter.set_policy({3, -1s, 30s}), std::invalid_argument);
}

TEST_CASE("failure limiter: a wall clock stepping back never lengthens a lock", "[failure_limiter]") {
    FakeClock clock;
    FailureLimiter limiter(default_policy(), clock.fn());
    for (int i = 0; i < 5; ++i) limiter.record_failure("u1");
    clock.now -= 3600s;
    CHECK(limiter.locked_for("u1") == std::optional{300s});
}

TEST_CASE("failure limiter: rejects a null clock and bad policies", "[failure_limiter]") {
    CHECK_THROWS_AS(FailureLimiter(default_policy(), nullptr), std::invalid_argument);
    FakeClock clock;
    CHECK_THROWS_AS(FailureLimiter({0, 300s, 300s}, clock.fn()), std::invalid_argument);
    CHECK_THROWS_AS(FailureLimiter({5, 300s, -5s}, clock.fn()), std::invalid_argument);
}

TEST_CASE("failure limiter: many keys with expired failures are pruned and still behave", "[failure_limiter]") {
    FakeClock clock;
    FailureLimiter limiter(default_policy(), clock.fn());
    for (int i = 0; i < 5000; ++i) limiter.record_failure("old-" + std::to_string(i));
    for (int i = 0; i < 5; ++i) limiter.record_failure("locked");
    clock.now += 301s;
    // Triggers sweeps: the expired entries go, the fresh ones count correctly.
    for (int i = 0; i < 5000; ++i) limiter.record_failure("new-" + std::to_string(i));
    CHECK_FALSE(limiter.locked_for("old-1").has_value());
    CHECK_FALSE(limiter.locked_for("locked").has_value());
    for (int i = 0; i < 4; ++i) limiter.record_failure("new-1");
    CHECK(limiter.locked_for("new-1") == std::optional{300s});
}

TEST_CASE("failure limiter: every change is handed to persist, and a restored state keeps its lock", "[failure_limiter]") {
    FakeClock clock;
    std::map<std::string, FailureLimiter::Snapshot> kept;  // what a store would hold
    {
        FailureLimiter limiter(default_policy(), clock.fn());
        limiter.set_persist([&](const std::string& key, const FailureLimiter::Snapshot& s) {
            if (s.failures.empty() && !s.locked_until) kept.erase(key);
            else kept[key] = s;
        });
        limiter.record_failure("u1");
        REQUIRE(kept.count("u1") == 1);
        CHECK(kept["u1"].failures.size() == 1);
        limiter.record_success("u1");
        CHECK(kept.count("u1") == 0);  // nothing left to remember
        for (int i = 0; i < 5; ++i) limiter.record_failure("u1");
        REQUIRE(kept.count("u1") == 1);
        CHECK(kept["u1"].locked_until.has_value());
        limiter.record_failure("u2");
        limiter.record_failure("u2");
    }
    // "A restart": a new limiter restored from what was kept.
    clock.now += 10s;
    FailureLimiter after(default_policy(), clock.fn());
    for (const auto& [key, s] : kept) after.restore(key, s);
    auto locked = after.locked_for("u1");
    REQUIRE(locked.has_value());
    CHECK(*locked == 290s);
    // u2's two failures still count: three more lock it.
    CHECK_FALSE(after.locked_for("u2").has_value());
    for (int i = 0; i < 3; ++i) after.record_failure("u2");
    CHECK(after.locked_for("u2").has_value());
    // A restored lock lifts on time.
    clock.now += 291s;
    CHECK_FALSE(after.locked_for("u1").has_value());
}

}  // namespace failure_limiter_test
