// The agent's copy of its portal's state (keyd/sync/): what an answer must pass before it
// replaces or changes the last good state, the names a change touches, and the copy on disk
// that a restart starts from (written in proportion to the change).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <string>

#include "keyd/store/sqlite.h"
#include "keyd/sync/synced_source.h"
#include "keyd/sync/synced_state.h"
#include "keyd/sync/synced_store.h"
#include "shared/ipc/login_member_json.h"
#include "tests/unit/support/temp_dir.h"

namespace synced_state_test {

using namespace portal;

namespace {

ipc::LoginMember member(const std::string& id, const std::string& name, std::uint32_t uid) {
    ipc::LoginMember m;
    m.user_id = id;
    m.unix_name = name;
    m.uid = uid;
    m.role = Role::manager;
    m.keys = {ipc::LoginKey{"ssh-ed25519 AAAA " + name, "SHA256:" + name}};
    return m;
}

ipc::LoginState portal_state(std::uint64_t revision = 10) {
    ipc::LoginState s;
    s.account_id = "acc_1";
    s.revision = revision;
    s.members = {member("usr_b", "bob", 200002), member("usr_a", "alice", 200001)};
    return s;
}

}  // namespace

TEST_CASE("synced state: an answer for another account or an older revision is refused whole", "[sync]") {
    sync::SyncedState held;
    CHECK(held.check_changes({}) != "");  // nothing to apply changes to yet
    REQUIRE(held.check_state(portal_state()).empty());
    held.replace(portal_state());
    CHECK(held.state().members.front().unix_name == "alice");  // ordered by name

    auto other = portal_state(11);
    other.account_id = "acc_2";
    CHECK(held.check_state(other).find("account_id") == 0);
    CHECK(held.check_state(portal_state(9)).find("revision") == 0);
    CHECK(held.check_state(portal_state(10)).empty());
    auto twice = portal_state(11);
    twice.members.push_back(member("usr_a", "alice2", 200003));
    CHECK(held.check_state(twice).find("members") == 0);

    ipc::FeedChanges older;
    older.revision = 9;
    CHECK(held.check_changes(older).find("revision") == 0);
    ipc::FeedChanges clash;
    clash.revision = 11;
    clash.upserts = {member("usr_c", "bob", 200009)};  // bob's name for another user
    CHECK(held.check_changes(clash).find("upserts") == 0);
    CHECK(held.revision() == 10);
    CHECK(held.state().members.size() == 2);
}

TEST_CASE("synced state: changes apply in place and say which names they touched", "[sync]") {
    sync::SyncedState held;
    held.replace(portal_state());
    CHECK_FALSE(held.take_touched());  // a whole state: compare everything
    CHECK(held.take_touched() == std::unordered_set<std::string>{});

    // bob leaves and alice takes a new name; carol comes with bob's old name: one answer.
    ipc::FeedChanges c;
    c.revision = 12;
    c.removed_user_ids = {"usr_b"};
    c.upserts = {member("usr_a", "alice2", 200001), member("usr_c", "bob", 200003)};
    REQUIRE(held.check_changes(c).empty());
    held.apply(c);
    CHECK(held.revision() == 12);
    REQUIRE(held.state().members.size() == 2);
    CHECK(held.state().members[0].unix_name == "alice2");
    CHECK(held.state().members[1].unix_name == "bob");
    CHECK(held.state().members[1].user_id == "usr_c");
    CHECK(held.take_touched() == std::unordered_set<std::string>{"alice", "alice2", "bob"});

    // Two members swap names in one answer: allowed, as each leaves the other's name.
    ipc::FeedChanges swap;
    swap.revision = 13;
    swap.upserts = {member("usr_a", "bob", 200001), member("usr_c", "alice2", 200003)};
    REQUIRE(held.check_changes(swap).empty());
    held.apply(swap);
    CHECK(held.state().members[0].user_id == "usr_c");
    CHECK(held.state().members[1].user_id == "usr_a");

    // The account's flags: an account-wide change (everyone compared).
    ipc::FeedChanges flags;
    flags.revision = 14;
    flags.enforce_2fa = true;
    flags.ip_allowlist = std::vector<std::string>{"192.0.2.0/24"};
    held.apply(flags);
    CHECK(held.state().enforce_2fa);
    CHECK(held.state().ssh_ip_allowlist == std::vector<std::string>{"192.0.2.0/24"});
    CHECK_FALSE(held.take_touched());
}

TEST_CASE("synced store: the last good state survives, 0600, changes written in place", "[sync]") {
    test::TempDir dir("synced");
    const auto path = dir.path() / "synced.db";
    sync::SyncFacts facts{"https://portal:8443", 1700000000, false};
    {
        auto store = sync::SyncedStore::open(path);
        std::string error;
        sync::SyncFacts none;
        CHECK_FALSE(store.load(none, error));
        CHECK(error.empty());
        auto s = portal_state();
        s.ssh_ip_allowlist = std::vector<std::string>{"10.0.0.0/8"};
        store.replace(s, facts);
        ipc::FeedChanges c;
        c.revision = 11;
        c.removed_user_ids = {"usr_b"};
        c.upserts = {member("usr_c", "carol", 200003)};
        store.apply(c, facts);
    }
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    auto store = sync::SyncedStore::open(path);
    std::string error;
    sync::SyncFacts loaded;
    const auto s = store.load(loaded, error);
    REQUIRE(s);
    CHECK(loaded.portal_url == "https://portal:8443");
    CHECK(loaded.synced_at == 1700000000);
    CHECK(s->account_id == "acc_1");
    CHECK(s->revision == 11);
    CHECK(s->ssh_ip_allowlist == std::vector<std::string>{"10.0.0.0/8"});
    REQUIRE(s->members.size() == 2);
    CHECK(s->members[0].user_id == "usr_a");
    CHECK(s->members[1].unix_name == "carol");
    CHECK(s->members[1].keys.size() == 1);

    // A damaged row fails the whole load (never half a state), naming the member.
    store::sqlite::Db::open(path).exec("UPDATE synced_members SET member = '{\"unix_name\":1}' WHERE user_id = 'usr_c'");
    CHECK_FALSE(store.load(loaded, error));
    CHECK(error.find("usr_c") != std::string::npos);
}

TEST_CASE("synced source: the offline grace and a refused host token withhold members", "[sync]") {
    test::TempDir dir("synced-source");
    auto store = sync::SyncedStore::open(dir.path() / "synced.db");
    auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));
    int changes = 0;
    sync::SyncedLoginSource source(store, "https://portal:8443", {}, std::chrono::seconds(600), [&] { return now; },
                                   [&] { ++changes; });
    CHECK(source.load().members.empty());
    REQUIRE(source.accept_state(portal_state()).empty());
    CHECK(changes == 1);
    auto served = source.load();
    REQUIRE(served.members.size() == 2);
    CHECK(served.members[0].status == MemberStatus::active);
    CHECK(served.generated_at == 1800000000);

    // A refused answer changes nothing.
    auto other = portal_state(20);
    other.account_id = "acc_x";
    CHECK_FALSE(source.accept_state(other).empty());
    CHECK(source.status().rejected_answers == 1);
    CHECK(source.revision() == 10);

    // The portal stops answering: members log in for the grace, then they are refused.
    source.portal_failed("cannot connect", false);
    now += std::chrono::seconds(599);
    source.tick();
    CHECK(source.load().members[0].status == MemberStatus::active);
    now += std::chrono::seconds(2);
    source.tick();
    CHECK(changes == 2);
    CHECK(source.status().members_withheld);
    CHECK(source.load().members[0].status == MemberStatus::deactivated);
    CHECK_FALSE(source.take_changed());  // everyone's access changed
    source.portal_answered();
    CHECK(source.load().members[0].status == MemberStatus::active);

    // 401: at once, whatever the grace; kept across a restart.
    source.portal_failed("HTTP 401", true);
    CHECK(source.status().host_token_refused);
    CHECK(source.load().members[1].status == MemberStatus::deactivated);
    sync::SyncedLoginSource again(store, "https://portal:8443", {}, std::chrono::seconds(600), [&] { return now; }, [] {});
    CHECK(again.status().host_token_refused);
    CHECK(again.load().members[0].status == MemberStatus::deactivated);

    // Another portal's state is not served.
    sync::SyncedLoginSource elsewhere(store, "https://other:8443", {}, std::chrono::seconds(600), [&] { return now; }, [] {});
    CHECK_FALSE(elsewhere.has_state());
}

TEST_CASE("synced source: support staff are refused at their grant's end also while the portal is silent",
          "[sync][support]") {
    test::TempDir dir("synced-support");
    auto store = sync::SyncedStore::open(dir.path() / "synced.db");
    auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));
    int changes = 0;
    sync::SyncedLoginSource source(store, "https://portal:8443", {}, std::chrono::seconds(3600), [&] { return now; },
                                   [&] { ++changes; });
    auto s = portal_state();
    auto sam = member("usr_s", "sam", 200005);
    sam.role = Role::support;
    sam.access_until = 1800000100;
    auto sue = member("usr_u", "sue", 200006);  // support with no known end: never served active
    sue.role = Role::support;
    s.members.push_back(sam);
    s.members.push_back(sue);
    REQUIRE(source.accept_state(s).empty());
    (void)source.take_changed();
    auto status_of = [](const ipc::LoginState& st, const std::string& name) {
        for (const auto& m : st.members)
            if (m.unix_name == name) return m.status;
        FAIL("no member " << name);
        return MemberStatus::invited;
    };
    auto served = source.load();
    CHECK(status_of(served, "sam") == MemberStatus::active);
    CHECK(status_of(served, "sue") == MemberStatus::deactivated);
    CHECK(status_of(served, "alice") == MemberStatus::active);

    // The portal goes quiet (within its offline grace); the window ends at its second.
    source.portal_failed("cannot connect", false);
    const int before = changes;
    now += std::chrono::seconds(99);
    source.tick();
    CHECK(changes == before);
    now += std::chrono::seconds(1);
    source.tick();
    CHECK(changes == before + 1);
    // The refresh it asks for: load, then what changed.
    served = source.load();
    CHECK(status_of(served, "sam") == MemberStatus::deactivated);
    CHECK(status_of(served, "alice") == MemberStatus::active);
    auto touched = source.take_changed();
    REQUIRE(touched);  // only the support member is re-judged, not the account
    CHECK(touched->count("sam") == 1);
    CHECK(touched->count("alice") == 0);
    source.tick();
    CHECK(changes == before + 1);  // once
    (void)source.load();
    touched = source.take_changed();
    REQUIRE(touched);
    CHECK(touched->count("sam") == 0);  // already judged
    // The portal's copy keeps what the portal said (the local API answers from it).
    for (const auto& m : source.synced().members)
        if (m.unix_name == "sam") CHECK(m.status == MemberStatus::active);

    // Another change's refresh comes first after a window's end (before the tick): that
    // refresh re-judges the member all the same.
    ipc::FeedChanges extend;
    extend.revision = 11;
    auto sid = member("usr_d", "sid", 200007);
    sid.role = Role::support;
    sid.access_until = 1800000200;
    extend.upserts = {sid};
    REQUIRE(source.accept_changes(extend).empty());
    (void)source.load();
    (void)source.take_changed();
    now = std::chrono::system_clock::time_point(std::chrono::seconds(1800000203));
    ipc::FeedChanges other;
    other.revision = 12;
    auto alice = member("usr_a", "alice", 200001);
    alice.tfa_enabled = true;
    other.upserts = {alice};
    REQUIRE(source.accept_changes(other).empty());
    served = source.load();
    CHECK(status_of(served, "sid") == MemberStatus::deactivated);
    touched = source.take_changed();
    REQUIRE(touched);
    CHECK(touched->count("sid") == 1);
    CHECK(touched->count("alice") == 1);
}

TEST_CASE("synced store: profiles are kept for the local API's reads and never reach the login path", "[sync]") {
    test::TempDir dir("synced-profiles");
    const auto path = dir.path() / "synced.db";
    sync::SyncFacts facts{"https://portal:8443", 1700000000, false};
    auto s = portal_state();
    s.account_name = "Acme";
    ipc::MemberProfile profile;
    profile.email = "alice@example.com";
    profile.keys.push_back(ipc::KeyProfile{"SHA256:alice", "aa:bb", "laptop", {{"env", "prod"}}, "t1", "t2"});
    s.members[1].profile = ipc::profile_text(profile);
    {
        auto store = sync::SyncedStore::open(path);
        store.replace(s, facts);
        ipc::FeedChanges c;
        c.revision = 11;
        c.enforce_2fa = true;
        c.account_name = "Acme Renamed";
        store.apply(c, facts);
    }
    auto store = sync::SyncedStore::open(path);
    sync::SyncFacts loaded;
    std::string error;
    const auto back = store.load(loaded, error);
    REQUIRE(back);
    CHECK(back->account_name == "Acme Renamed");
    REQUIRE(ipc::read_profile(back->members[0]));  // usr_a, alice
    CHECK(*ipc::read_profile(back->members[0]) == profile);

    sync::SyncedLoginSource source(store, "https://portal:8443", {}, std::chrono::seconds(600),
                                   [] { return std::chrono::system_clock::now(); }, [] {});
    REQUIRE(source.synced().members[0].profile);
    const auto served = source.load();
    CHECK_FALSE(served.account_name);
    for (const auto& m : served.members) CHECK_FALSE(m.profile);
}

TEST_CASE("synced store: a v2 copy (no profiles) is kept for logins and fetched again whole", "[sync]") {
    test::TempDir dir("synced-v2");
    const auto path = dir.path() / "synced.db";
    {
        auto db = store::sqlite::Db::open(path);
        db.exec(R"(CREATE TABLE synced_account (id INTEGER PRIMARY KEY CHECK (id = 1), portal_url TEXT NOT NULL,
  account_id TEXT NOT NULL, revision INTEGER NOT NULL, enforce_2fa INTEGER NOT NULL, ssh_ip_allowlist TEXT,
  synced_at INTEGER NOT NULL, host_token_refused INTEGER NOT NULL);
CREATE TABLE synced_members (user_id TEXT PRIMARY KEY, member TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE login_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
CREATE TABLE sync_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO sync_counters (name, value) VALUES ('login_events_dropped', 0);
INSERT INTO synced_account VALUES (1, 'https://portal:8443', 'acc_1', 42, 0, NULL, 1700000000, 0);
INSERT INTO synced_members VALUES ('usr_a', '{"unix_name":"alice","uid":200001,"user_id":"usr_a","role":"owner","status":"active","tfa_enabled":false,"published":true,"keys":[]}');
PRAGMA user_version = 2;)");
    }
    chmod(path.c_str(), 0600);
    auto store = sync::SyncedStore::open(path);
    CHECK(store::sqlite::Db::open(path).query_int("PRAGMA user_version") == 3);
    sync::SyncFacts loaded;
    std::string error;
    const auto s = store.load(loaded, error);
    INFO(error);
    REQUIRE(s);
    CHECK(s->revision == 0);  // never the portal's ETag: the state with profiles comes whole
    CHECK_FALSE(s->account_name);
    REQUIRE(s->members.size() == 1);
    CHECK(s->members[0].unix_name == "alice");
}

}  // namespace synced_state_test
