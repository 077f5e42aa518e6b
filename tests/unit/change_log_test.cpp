// The store's change log (keyd/store/change_log.h): every write method records what it changed
// under the revision it committed as; rollbacks record nothing; compaction keeps what the
// retention says and makes since() refuse what it dropped.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "keyd/store/connection.h"
#include "keyd/store/migrations.h"
#include "keyd/store/sqlite.h"
#include "keyd/store/store.h"
#include "tests/unit/support/temp_dir.h"

namespace change_log_test {

using portal::Account;
using portal::MemberStatus;
using portal::Role;
using portal::User;
using portal::store::Change;
using portal::store::ChangeKind;
using portal::store::ChangeLogRetention;
using portal::store::ChangeOp;
using portal::Membership;
using portal::SshKey;
using portal::store::Store;

namespace {

struct LogFixture {
    portal::test::TempDir dir{"changelog"};
    std::unique_ptr<Store> store = Store::open(dir.path() / "state" / "store.db");

    // The changes after `revision`, which must all be there.
    std::vector<Change> since(std::uint64_t revision) {
        auto c = store->changes().since(revision, 100000);
        REQUIRE(c);
        return *c;
    }
    // What the newest revision changed.
    std::vector<Change> last() { return since(store->revision() - 1); }
};

SshKey key_of(const std::string& account, const std::string& user, int n) {
    SshKey k;
    k.account_id = account;
    k.user_id = user;
    k.name = "key" + std::to_string(n);
    k.fingerprint = "aa:bb:" + std::to_string(n);
    k.fingerprint_sha256 = "SHA256:key" + std::to_string(n);
    k.public_key = "ssh-ed25519 AAAAkey" + std::to_string(n);
    k.type = "ssh-ed25519";
    k.bits = 256;
    return k;
}

Change change(std::uint64_t rev, ChangeKind kind, ChangeOp op, std::string account, std::string user,
              std::string entity) {
    return Change{rev, kind, op, std::move(account), std::move(user), std::move(entity)};
}

}  // namespace

TEST_CASE("change log: every write method records its entity under the revision it committed as", "[changelog]") {
    LogFixture f;
    auto& s = *f.store;
    CHECK(s.schema_version() == portal::store::latest_schema_version());
    CHECK(s.changes().compacted_through() == 0);
    CHECK(f.since(0).empty());

    Account acc = s.accounts().create("Acme");
    CHECK(f.last() == std::vector{change(1, ChangeKind::account, ChangeOp::upsert, acc.id, "", acc.id)});
    acc.enforce_2fa = true;
    s.accounts().update(acc);
    CHECK(f.last() == std::vector{change(2, ChangeKind::account, ChangeOp::upsert, acc.id, "", acc.id)});

    User u = s.users().create("ann@example.com", "Ann");
    CHECK(f.last() == std::vector{change(3, ChangeKind::user, ChangeOp::upsert, "", u.id, u.id)});
    u.name = "Ann B";
    s.users().update(u);
    CHECK(f.last() == std::vector{change(4, ChangeKind::user, ChangeOp::upsert, "", u.id, u.id)});

    s.memberships().put(Membership{acc.id, u.id, Role::manager, MemberStatus::active, "", ""});
    CHECK(f.last() == std::vector{change(5, ChangeKind::membership, ChangeOp::upsert, acc.id, u.id, u.id)});

    s.ssh_keys().insert(key_of(acc.id, u.id, 1));
    CHECK(f.last() == std::vector{change(6, ChangeKind::ssh_key, ChangeOp::upsert, acc.id, u.id, "aa:bb:1")});
    auto k = key_of(acc.id, "", 1);  // update finds the owner itself
    k.name = "renamed";
    s.ssh_keys().update(k);
    CHECK(f.last() == std::vector{change(7, ChangeKind::ssh_key, ChangeOp::upsert, acc.id, u.id, "aa:bb:1")});
    s.ssh_keys().remove(acc.id, "aa:bb:1");
    CHECK(f.last() == std::vector{change(8, ChangeKind::ssh_key, ChangeOp::remove, acc.id, u.id, "aa:bb:1")});

    s.ssh_keys().insert(key_of(acc.id, u.id, 2));
    s.ssh_keys().insert(key_of(acc.id, u.id, 3));
    s.ssh_keys().remove_of_user(acc.id, u.id);
    auto removed = f.last();
    REQUIRE(removed.size() == 2);
    CHECK(removed[0].op == ChangeOp::remove);
    CHECK(removed[1].op == ChangeOp::remove);
    CHECK(removed[0].entity_id != removed[1].entity_id);

    portal::store::TfaRecord tfa;
    tfa.enabled = true;
    tfa.secret_ciphertext = {1, 2, 3};
    tfa.pending_ciphertext = {};
    s.tfa().put(u.id, tfa);
    CHECK(f.last() == std::vector{change(12, ChangeKind::tfa, ChangeOp::upsert, "", u.id, u.id)});

    s.memberships().remove(acc.id, u.id);
    CHECK(f.last() == std::vector{change(13, ChangeKind::membership, ChangeOp::remove, acc.id, u.id, u.id)});
    s.users().remove(u.id);
    CHECK(f.last() == std::vector{change(14, ChangeKind::user, ChangeOp::remove, "", u.id, u.id)});
    CHECK(s.revision() == 14);
    CHECK(f.since(0).size() == 15);  // every revision's changes, oldest first
}

TEST_CASE("change log: what changes nothing, or is rolled back, records nothing", "[changelog]") {
    LogFixture f;
    auto& s = *f.store;
    Account acc = s.accounts().create("Acme");
    User u = s.users().create("ann@example.com", "Ann");
    const auto rev = s.revision();

    s.users().remove("usr_absent");
    s.memberships().remove(acc.id, u.id);  // not a member
    s.ssh_keys().remove(acc.id, "aa:bb:none");
    // 2FA failure counters are not IAM state: no revision, no change.
    s.tfa().put_failure_state(u.id, portal::store::TfaFailureState{{1000, 2000}, 5000});
    CHECK(s.tfa().failure_states().size() == 1);
    CHECK(s.revision() == rev);
    CHECK(f.since(rev).empty());

    CHECK_THROWS(s.transaction([&] {
        s.memberships().put(Membership{acc.id, u.id, Role::manager, MemberStatus::active, "", ""});
        throw std::runtime_error("abort");
    }));
    CHECK(s.revision() == rev);
    CHECK(f.since(rev).empty());

    // A failed inner write undoes what it recorded; the outer transaction's changes stay.
    s.transaction([&] {
        s.memberships().put(Membership{acc.id, u.id, Role::manager, MemberStatus::active, "", ""});
        s.ssh_keys().insert(key_of(acc.id, u.id, 1));
        CHECK_THROWS_AS(s.ssh_keys().insert(key_of(acc.id, u.id, 1)), portal::store::Conflict);
        CHECK_THROWS(s.transaction([&] {
            s.ssh_keys().remove(acc.id, "aa:bb:1");  // overwrites the op of a pending change ...
            s.ssh_keys().insert(key_of(acc.id, u.id, 2));
            throw std::runtime_error("inner abort");  // ... which the rollback restores
        }));
    });
    CHECK(s.revision() == rev + 1);
    CHECK(f.since(rev) == std::vector{change(rev + 1, ChangeKind::membership, ChangeOp::upsert, acc.id, u.id, u.id),
                                      change(rev + 1, ChangeKind::ssh_key, ChangeOp::upsert, acc.id, u.id, "aa:bb:1")});
}

TEST_CASE("change log: one transaction records each entity once, with its last op", "[changelog]") {
    LogFixture f;
    auto& s = *f.store;
    Account acc = s.accounts().create("Acme");
    User u = s.users().create("ann@example.com", "Ann");
    s.memberships().put(Membership{acc.id, u.id, Role::manager, MemberStatus::active, "", ""});
    const auto rev = s.revision();
    s.transaction([&] {
        s.ssh_keys().insert(key_of(acc.id, u.id, 1));
        s.ssh_keys().remove(acc.id, "aa:bb:1");
        s.memberships().put(Membership{acc.id, u.id, Role::owner, MemberStatus::active, "", ""});
        s.memberships().put(Membership{acc.id, u.id, Role::manager, MemberStatus::deactivated, "", ""});
    });
    CHECK(f.since(rev) == std::vector{change(rev + 1, ChangeKind::ssh_key, ChangeOp::remove, acc.id, u.id, "aa:bb:1"),
                                      change(rev + 1, ChangeKind::membership, ChangeOp::upsert, acc.id, u.id, u.id)});
}

TEST_CASE("change log: a write that forgets to record is refused and rolled back", "[changelog]") {
    portal::test::TempDir dir{"changelog-guard"};
    // A table method without record(), played by a raw statement on the store's connection.
    auto conn = portal::store::Connection::open(dir.path() / "state" / "store.db");
    const auto insert = [&] {
        portal::store::Query q(*conn, "INSERT INTO accounts (id, name, created_at, updated_at)"
                                      " VALUES ('acc_x', 'X', 'now', 'now')");
        q->run();
    };
    CHECK_THROWS_WITH(conn->write(insert), Catch::Contains("without recording what it changed"));
    CHECK(conn->meta_int("revision") == 0);
    conn->write([&] {
        insert();
        conn->record(ChangeKind::account, ChangeOp::upsert, "acc_x", "", "acc_x");
    });
    CHECK(conn->meta_int("revision") == 1);
    // Reads, and writes that change no row, need no record.
    conn->write([&] {
        portal::store::Query q(*conn, "DELETE FROM accounts WHERE id = 'acc_absent'");
        q->run();
    });
    CHECK(conn->meta_int("revision") == 1);
}

TEST_CASE("change log: compaction keeps max_revisions, and since() refuses what it dropped", "[changelog]") {
    LogFixture f;
    auto& s = *f.store;
    s.set_change_log_retention(ChangeLogRetention{100, std::chrono::hours(24 * 365), 10});
    Account acc = s.accounts().create("Acme");
    for (int i = 0; i < 299; ++i) {
        acc.name = "Acme " + std::to_string(i);
        s.accounts().update(acc);
    }
    REQUIRE(s.revision() == 300);
    // Compaction runs every 64 revisions: at 256 it kept 156..256 and dropped through 156.
    CHECK(s.changes().compacted_through() == 156);
    CHECK_FALSE(s.changes().since(0, 100000));
    CHECK_FALSE(s.changes().since(155, 100000));
    auto tail = s.changes().since(156, 100000);
    REQUIRE(tail);
    CHECK(tail->size() == 144);
    CHECK(tail->front().revision == 157);
    CHECK(tail->back().revision == 300);
    // Too many to be worth replaying: the caller rebuilds.
    CHECK_FALSE(s.changes().since(156, 143));
    CHECK(s.changes().since(156, 144));
    // A consumer ahead of the store (a restored backup) must rebuild too.
    CHECK_FALSE(s.changes().since(301, 100000));
    CHECK(s.changes().since(300, 100000)->empty());
}

TEST_CASE("change log: revisions older than max_age go, min_revisions stay", "[changelog]") {
    LogFixture f;
    auto& s = *f.store;
    std::int64_t now = 1'000'000;
    s.set_change_log_retention(ChangeLogRetention{100000, std::chrono::seconds(3600), 20}, [&] { return now; });
    Account acc = s.accounts().create("Acme");
    for (int i = 0; i < 99; ++i) {  // revisions 2..100, two hours old by the end
        acc.name = "Acme " + std::to_string(i);
        s.accounts().update(acc);
    }
    now += 7200;
    for (int i = 0; i < 27; ++i) {  // 101..127; 128 compacts
        acc.name = "Acme later " + std::to_string(i);
        s.accounts().update(acc);
    }
    CHECK(s.changes().compacted_through() == 0);
    s.accounts().update(acc);
    REQUIRE(s.revision() == 128);
    // Every old revision (1..100) is past max_age; all of them may go (128 - 20 = 108 >= 100).
    CHECK(s.changes().compacted_through() == 100);
    CHECK(s.changes().since(100, 1000)->size() == 28);

    // When (nearly) everything is old, min_revisions still stay.
    for (int i = 0; i < 63; ++i) s.accounts().update(acc);
    now += 7200;
    s.accounts().update(acc);
    REQUIRE(s.revision() == 192);
    CHECK(s.changes().compacted_through() == 172);
    CHECK(s.changes().since(172, 1000)->size() == 20);
}

TEST_CASE("change log: a store of the previous schema starts its log at its revision", "[changelog]") {
    portal::test::TempDir dir{"changelog-migrate"};
    const auto db = dir.path() / "state" / "store.db";
    {
        auto s = Store::open(db);
        s->accounts().create("Acme");
        s->accounts().create("Beta");
    }
    {  // back to version 2 as an older daemon left it
        auto raw = portal::store::sqlite::Db::open(db);
        raw.exec("DROP TABLE changes; DROP TABLE api_tokens; DROP TABLE hosts; DROP TABLE host_enrolments; DROP TABLE login_events; DROP TABLE portal_sessions; DROP TABLE passwords; DROP TABLE ip_allowlists; DROP TABLE ip_allowlist_entries; DROP TABLE contacts; DROP TABLE ticket_messages; DROP TABLE tickets; DROP TABLE support_staff; DROP TABLE support_access; DROP TABLE notifications; DELETE FROM meta WHERE key = 'changes_compacted_through';"
                 "DELETE FROM schema_migrations WHERE version >= 3; PRAGMA user_version = 2;");
    }
    auto s = Store::open(db);
    CHECK(s->schema_version() == portal::store::latest_schema_version());
    CHECK(s->revision() == 2);
    CHECK(s->changes().compacted_through() == 2);
    CHECK_FALSE(s->changes().since(0, 1000));
    CHECK(s->changes().since(2, 1000)->empty());
    s->accounts().create("Gamma");
    CHECK(s->changes().since(2, 1000)->size() == 1);
}

}  // namespace change_log_test
