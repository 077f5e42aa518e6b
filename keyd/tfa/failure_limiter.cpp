#include "keyd/tfa/failure_limiter.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace portal {

void FailureLimiter::check(const Policy& policy) {
    if (policy.max_failures < 1) throw std::invalid_argument("max_failures must be at least 1");
    if (policy.window.count() < 0 || policy.lockout.count() < 0) {
        throw std::invalid_argument("window and lockout must not be negative");
    }
}

FailureLimiter::FailureLimiter(Policy policy, Clock clock) : policy_(policy), clock_(std::move(clock)) {
    check(policy_);
    if (!clock_) throw std::invalid_argument("FailureLimiter needs a clock");
}

// Drops failures that left the window and a lock that has lifted. A lock never reaches further
// than one lockout from now: that covers a shorter lockout after reload and a wall clock that
// stepped backwards.
void FailureLimiter::prune(Entry& entry, TimePoint now) const {
    if (entry.locked_until) {
        if (*entry.locked_until <= now) {
            entry.locked_until.reset();
        } else {
            entry.locked_until = std::min(*entry.locked_until, now + policy_.lockout);
            if (*entry.locked_until <= now) entry.locked_until.reset();
        }
    }
    const TimePoint oldest = now - policy_.window;
    auto first_kept = std::find_if(entry.failures.begin(), entry.failures.end(),
                                   [&](TimePoint t) { return t > oldest; });
    entry.failures.erase(entry.failures.begin(), first_kept);
}

// Amortised O(1): a full sweep only when the map has doubled since the last one, so memory
// stays proportional to the keys that failed recently.
void FailureLimiter::maybe_sweep(TimePoint now) {
    if (entries_.size() < sweep_at_) return;
    for (auto it = entries_.begin(); it != entries_.end();) {
        prune(it->second, now);
        if (it->second.failures.empty() && !it->second.locked_until) {
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
    sweep_at_ = std::max(kMinSweep, entries_.size() * 2);
}

std::optional<std::chrono::seconds> FailureLimiter::locked_for(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    const TimePoint now = clock_();
    prune(it->second, now);
    if (!it->second.locked_until) {
        if (it->second.failures.empty()) entries_.erase(it);
        return std::nullopt;
    }
    // Rounded up, so a client that waits Retry-After seconds finds the lock lifted.
    return std::chrono::ceil<std::chrono::seconds>(*it->second.locked_until - now);
}

void FailureLimiter::record_failure(const std::string& key) {
    Snapshot changed;
    Persist persist;
    {
        std::lock_guard lock(mutex_);
        const TimePoint now = clock_();
        maybe_sweep(now);
        Entry& entry = entries_[key];
        prune(entry, now);
        if (entry.locked_until) return;
        entry.failures.push_back(now);
        if (entry.failures.size() >= static_cast<std::size_t>(policy_.max_failures)) {
            entry.failures.clear();
            if (policy_.lockout.count() > 0) entry.locked_until = now + policy_.lockout;
        }
        changed = entry;
        persist = persist_;
    }
    if (persist) persist(key, changed);
}

void FailureLimiter::record_success(const std::string& key) {
    Snapshot changed;
    Persist persist;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(key);
        if (it == entries_.end()) return;
        it->second.failures.clear();
        changed = it->second;
        if (!it->second.locked_until) entries_.erase(it);
        persist = persist_;
    }
    if (persist) persist(key, changed);
}

void FailureLimiter::restore(const std::string& key, Snapshot state) {
    std::lock_guard lock(mutex_);
    if (state.failures.empty() && !state.locked_until) return;
    std::sort(state.failures.begin(), state.failures.end());
    entries_[key] = std::move(state);
}

void FailureLimiter::set_persist(Persist persist) {
    std::lock_guard lock(mutex_);
    persist_ = std::move(persist);
}

void FailureLimiter::set_policy(Policy policy) {
    check(policy);
    std::lock_guard lock(mutex_);
    policy_ = policy;
}

}  // namespace portal
