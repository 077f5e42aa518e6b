// Which members keep userdb drop-ins on this machine: the ones who logged in here most
// recently. A drop-in lets a member's identity resolve while the daemon is down (their files
// keep their owner's name, their sessions their user), but every file in /run/userdb slows
// every group look-up on the machine (nss-systemd lists the directory each time), so at 10,000
// members only the ones this machine actually sees get one; the provider answers for everyone
// while the daemon runs.
#pragma once
#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace portal::userdb {

class ResidentMembers {
public:
    using Clock = std::chrono::system_clock;
    // At most `max_members` (0: none), none whose last login is older than `max_age`.
    ResidentMembers(std::size_t max_members, std::chrono::seconds max_age);

    // `name` logged in at `at` (or, at start, its drop-in was last written then). True when it
    // was not resident before. May evict the least recent one to stay within the bound.
    bool note(const std::string& name, Clock::time_point at);
    // Forgets the members whose last login is older than max_age. True when any was.
    bool expire(Clock::time_point now);
    void set_limits(std::size_t max_members, std::chrono::seconds max_age);

    bool contains(const std::string& name) const { return names_.count(name) > 0; }
    const std::unordered_set<std::string>& names() const { return names_; }
    std::size_t size() const { return names_.size(); }

private:
    void trim();

    std::size_t max_members_;
    std::chrono::seconds max_age_;
    std::unordered_set<std::string> names_;
    std::unordered_map<std::string, Clock::time_point> last_;
    std::set<std::pair<Clock::time_point, std::string>> by_time_;  // least recent first
};

}  // namespace portal::userdb
