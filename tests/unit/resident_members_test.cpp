#include <catch2/catch.hpp>

#include "keyd/userdb/resident_members.h"

namespace resident_members_test {

using portal::userdb::ResidentMembers;
using namespace std::chrono_literals;

TEST_CASE("resident members: the most recent logins, bounded in number and age", "[userdb]") {
    const auto t0 = ResidentMembers::Clock::time_point(std::chrono::seconds(1'700'000'000));
    ResidentMembers r(2, std::chrono::seconds(3600));
    CHECK(r.note("alice", t0));
    CHECK(r.note("bob", t0 + 10s));
    CHECK_FALSE(r.note("alice", t0 + 20s));  // again: not new, but now the most recent
    CHECK(r.note("carol", t0 + 30s));         // evicts the least recent: bob
    CHECK(r.contains("alice"));
    CHECK_FALSE(r.contains("bob"));
    CHECK(r.contains("carol"));
    CHECK_FALSE(r.note("alice", t0));  // an older event changes nothing
    CHECK(r.size() == 2);

    CHECK_FALSE(r.expire(t0 + 3600s));
    CHECK(r.expire(t0 + 3625s));  // alice's last login (t0+20s) is past the hour, carol's is not
    CHECK_FALSE(r.contains("alice"));
    CHECK(r.contains("carol"));

    r.set_limits(0, std::chrono::seconds(3600));  // no drop-ins at all
    CHECK(r.size() == 0);
    CHECK_FALSE(r.note("dave", t0 + 40s));
    CHECK(r.size() == 0);
}

}  // namespace resident_members_test
