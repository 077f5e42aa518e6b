// The incremental login view (keyd/login/login_view.h) against a full build: random sequences
// of writes to a real store, refreshed after every step, must give exactly the state that
// build_login_state() reads from scratch; and a view left behind a compacted change log
// rebuilds, with the same result.
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "keyd/login/login_view.h"
#include "keyd/store/store.h"
#include "tests/unit/support/random_store_writes.h"

namespace login_view_incremental_test {

using portal::Account;
using portal::Membership;
using portal::MemberStatus;
using portal::Role;
using portal::SshKey;
using portal::User;
using portal::login::build_login_state;
using portal::login::IncrementalLoginView;
using portal::login::ViewSettings;
using portal::store::Store;
using portal::test::RandomWorld;

namespace {

void check_same(const portal::ipc::LoginState& incremental, const portal::ipc::LoginState& full) {
    CHECK(incremental.account_id == full.account_id);
    CHECK(incremental.revision == full.revision);
    CHECK(incremental.enforce_2fa == full.enforce_2fa);
    CHECK(incremental.login_roles == full.login_roles);
    REQUIRE(incremental.members.size() == full.members.size());
    for (std::size_t i = 0; i < full.members.size(); ++i) {
        INFO("member " << i << ": " << full.members[i].unix_name);
        CHECK(incremental.members[i] == full.members[i]);
    }
}

}  // namespace

TEST_CASE("incremental login view: random changes give what a full build gives", "[login-view]") {
    for (unsigned seed : {1u, 2u, 42u}) {
        INFO("seed " << seed);
        RandomWorld w(seed);
        const ViewSettings settings{w.followed.id, {Role::owner, Role::manager}, std::chrono::seconds(60)};
        IncrementalLoginView view;
        view.set_settings(settings);
        std::uint64_t moved = 0;  // refreshes that found a new revision
        for (int i = 0; i < 200; ++i) {
            const auto before = w.store->revision();
            const int writes = 1 + static_cast<int>(w.pick(3));
            for (int j = 0; j < writes; ++j) w.step();
            if (i > 0 && w.store->revision() != before) ++moved;
            const auto& incremental = view.refresh(*w.store, 100);
            check_same(incremental, build_login_state(*w.store, settings, 100));
        }
        // One full build at the start; every other refresh with something new applied the log.
        CHECK(view.stats().full_builds == 1);
        CHECK(view.stats().applied == moved);
        CHECK(moved > 150);
        CHECK(!view.refresh(*w.store, 100).members.empty());
    }
}

TEST_CASE("incremental login view: behind a compacted change log it rebuilds, to the same state", "[login-view]") {
    RandomWorld w(7);
    w.store->set_change_log_retention({20, std::chrono::hours(24), 5});
    const ViewSettings settings{w.followed.id, {Role::owner, Role::manager}, std::chrono::seconds(60)};
    IncrementalLoginView view;
    view.set_settings(settings);
    for (int i = 0; i < 10; ++i) w.step();
    view.refresh(*w.store, 1);
    REQUIRE(view.stats().full_builds == 1);

    // Within the retained log: applied.
    for (int i = 0; i < 5; ++i) w.step();
    check_same(view.refresh(*w.store, 2), build_login_state(*w.store, settings, 2));
    CHECK(view.stats().full_builds == 1);

    // Past it (compaction at revision 64, 128, ... keeps 20): rebuilt.
    const auto behind = w.store->revision();
    while (w.store->revision() < behind + 150) w.step();
    REQUIRE(w.store->changes().compacted_through() > behind);
    check_same(view.refresh(*w.store, 3), build_login_state(*w.store, settings, 3));
    CHECK(view.stats().full_builds == 2);

    // And applies again from there.
    for (int i = 0; i < 5; ++i) w.step();
    check_same(view.refresh(*w.store, 4), build_login_state(*w.store, settings, 4));
    CHECK(view.stats().full_builds == 2);

    // New settings (other roles): rebuilt.
    const ViewSettings owners{w.followed.id, {Role::owner}, std::chrono::seconds(60)};
    view.set_settings(owners);
    check_same(view.refresh(*w.store, 5), build_login_state(*w.store, owners, 5));
    CHECK(view.stats().full_builds == 3);
}

TEST_CASE("incremental login view: a change re-reads only the members it names", "[login-view]") {
    RandomWorld w(9);
    const ViewSettings settings{w.followed.id, {Role::owner, Role::manager}, std::chrono::seconds(60)};
    for (int i = 0; i < 200; ++i) {
        User u = w.store->users().create("m" + std::to_string(i) + "@example.com", "M");
        w.store->memberships().put(Membership{w.followed.id, u.id, Role::manager, MemberStatus::active, "", ""});
        w.users.push_back(u.id);
    }
    IncrementalLoginView view;
    view.set_settings(settings);
    view.refresh(*w.store, 1);
    const auto reread = view.stats().members_reread;
    w.store->memberships().put(Membership{w.followed.id, w.users[17], Role::owner, MemberStatus::active, "", ""});
    Account o = w.other;
    o.name = "Other renamed";
    w.store->accounts().update(o);  // another account: nothing to re-read
    check_same(view.refresh(*w.store, 2), build_login_state(*w.store, settings, 2));
    CHECK(view.stats().members_reread == reread + 1);
    // Nothing changed: nothing read, same revision.
    const auto rev = view.refresh(*w.store, 3).revision;
    CHECK(view.refresh(*w.store, 4).revision == rev);
    CHECK(view.stats().members_reread == reread + 1);
}

}  // namespace login_view_incremental_test
