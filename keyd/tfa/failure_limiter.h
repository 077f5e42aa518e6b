// Rate limit of failed second-factor attempts per key (user id). Kept in memory; every change
// of a key's state is handed to a persist callback (the store) and restored at start, so a
// restart neither lifts a lock nor forgets recent failures.
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace portal {

class FailureLimiter {
public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    struct Policy {
        int max_failures = 5;
        std::chrono::seconds window{300};
        std::chrono::seconds lockout{300};
    };

    using TimePoint = std::chrono::system_clock::time_point;
    // A key's state: failures within the window (oldest first) and the lock, if any.
    struct Snapshot {
        std::vector<TimePoint> failures;
        std::optional<TimePoint> locked_until;
    };
    // Called after a key's state changed (outside the limiter's lock). An empty snapshot
    // means there is nothing left to remember. May throw: the caller of record_* sees it.
    using Persist = std::function<void(const std::string& key, const Snapshot&)>;

    // Throws std::invalid_argument for a null clock or a policy with max_failures < 1 or a
    // negative window/lockout. Thread-safe.
    FailureLimiter(Policy policy, Clock clock);

    // nullopt when the key may try; otherwise whole seconds (>= 1, rounded up) until the lock
    // lifts, for Retry-After.
    std::optional<std::chrono::seconds> locked_for(const std::string& key);
    // The max_failures-th failure within `window` locks the key for `lockout`. Failures while
    // locked do not extend the lock.
    void record_failure(const std::string& key);
    // Clears the key's failures (not an active lock: callers check locked_for first).
    void record_success(const std::string& key);
    // For config reload; existing failures are kept and judged by the new policy, and an active
    // lock is shortened to at most the new lockout.
    void set_policy(Policy policy);
    // Restores a key's state from before a restart (judged by the current policy: stale
    // failures and lifted locks are dropped at the next look).
    void restore(const std::string& key, Snapshot state);
    void set_persist(Persist persist);

private:
    using Entry = Snapshot;  // failures: within window, oldest first, at most max_failures

    void prune(Entry& entry, TimePoint now) const;
    void maybe_sweep(TimePoint now);
    static void check(const Policy& policy);

    std::mutex mutex_;
    Policy policy_;
    Clock clock_;
    Persist persist_;
    std::unordered_map<std::string, Entry> entries_;
    std::size_t sweep_at_ = kMinSweep;
    static constexpr std::size_t kMinSweep = 1024;
};

}  // namespace portal
