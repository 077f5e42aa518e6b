#include "keyd/userdb/resident_members.h"

namespace portal::userdb {

ResidentMembers::ResidentMembers(std::size_t max_members, std::chrono::seconds max_age)
    : max_members_(max_members), max_age_(max_age) {}

bool ResidentMembers::note(const std::string& name, Clock::time_point at) {
    if (max_members_ == 0) return false;
    auto it = last_.find(name);
    const bool added = it == last_.end();
    if (!added) {
        if (at <= it->second) return false;  // an older event (a seed, a late batch) changes nothing
        by_time_.erase({it->second, name});
        it->second = at;
    } else {
        last_.emplace(name, at);
        names_.insert(name);
    }
    by_time_.emplace(at, name);
    trim();
    return added && names_.count(name) > 0;
}

bool ResidentMembers::expire(Clock::time_point now) {
    bool any = false;
    while (!by_time_.empty() && now - by_time_.begin()->first > max_age_) {
        const std::string name = by_time_.begin()->second;
        by_time_.erase(by_time_.begin());
        last_.erase(name);
        names_.erase(name);
        any = true;
    }
    return any;
}

void ResidentMembers::set_limits(std::size_t max_members, std::chrono::seconds max_age) {
    max_members_ = max_members;
    max_age_ = max_age;
    trim();
}

void ResidentMembers::trim() {
    while (names_.size() > max_members_) {
        const std::string name = by_time_.begin()->second;
        by_time_.erase(by_time_.begin());
        last_.erase(name);
        names_.erase(name);
    }
}

}  // namespace portal::userdb
