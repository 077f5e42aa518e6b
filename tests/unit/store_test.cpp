#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "keyd/store/migrations.h"
#include "keyd/store/sqlite.h"
#include "keyd/store/store.h"
#include "keyd/store/timestamp.h"
#include "tests/test_scale.h"
#include "tests/unit/support/temp_dir.h"

namespace store_test {

namespace fs = std::filesystem;
using namespace portal;
using namespace portal::store;

namespace {

// A test directory whose state/store.db does not exist yet.
struct TempDir : portal::test::TempDir {
    TempDir() : portal::test::TempDir("store") {}
    std::filesystem::path db() const { return path() / "state" / "store.db"; }
};

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

SshKey make_key(const std::string& account, const std::string& user, const std::string& name, int n) {
    SshKey k;
    k.account_id = account;
    k.user_id = user;
    k.name = name;
    k.fingerprint = "aa:bb:" + std::to_string(n);
    k.fingerprint_sha256 = "SHA256:key" + std::to_string(n);
    k.public_key = "ssh-ed25519 AAAAkey" + std::to_string(n);
    k.type = "ssh-ed25519";
    k.bits = 256;
    k.labels = {{"env", "prod"}, {"n", std::to_string(n)}};
    return k;
}

// An account with one active owner.
struct Fixture {
    TempDir dir;
    std::unique_ptr<Store> store = Store::open(dir.db());
    Account acc = store->accounts().create("Acme");
    User owner = store->users().create("owner@example.com", "Olivia Owner");
    Fixture() { store->memberships().put(Membership{acc.id, owner.id, Role::owner, MemberStatus::active, "", ""}); }
};

}  // namespace

TEST_CASE("store: migrates an empty database and keeps data across reopen", "[store]") {
    TempDir dir;
    std::string account_id;
    {
        auto s = Store::open(dir.db());
        CHECK(s->schema_version() == latest_schema_version());
        CHECK(s->revision() == 0);
        account_id = s->accounts().create("Acme").id;
    }
    {
        auto db = sqlite::Db::open(dir.db());
        CHECK(db.query_int("SELECT COUNT(*) FROM schema_migrations") == latest_schema_version());
        CHECK(db.query_text("PRAGMA journal_mode") == "wal");
    }
    auto s = Store::open(dir.db());
    CHECK(s->schema_version() == latest_schema_version());
    CHECK(s->revision() == 1);
    auto a = s->accounts().get(account_id);
    REQUIRE(a);
    CHECK(a->name == "Acme");
}

TEST_CASE("store: refuses a database newer than the build", "[store]") {
    TempDir dir;
    Store::open(dir.db());
    {
        auto db = sqlite::Db::open(dir.db());
        db.exec("PRAGMA user_version = " + std::to_string(latest_schema_version() + 1));
    }
    CHECK_THROWS_AS(Store::open(dir.db()), StoreError);
}

TEST_CASE("store: file modes and directory checks", "[store]") {
    TempDir dir;
    auto s = Store::open(dir.db());
    s->accounts().create("x");  // touches -wal/-shm
    CHECK(mode_of(dir.db()) == 0600);
    CHECK(mode_of(dir.db().parent_path()) == 0700);
    for (const char* suffix : {"-wal", "-shm"}) {
        fs::path side = dir.db();
        side += suffix;
        if (fs::exists(side)) CHECK(mode_of(side) == 0600);
    }

    fs::path open_dir = dir.path() / "open";
    fs::create_directories(open_dir);
    fs::permissions(open_dir, fs::perms::all);  // 0777
    CHECK_THROWS_AS(Store::open(open_dir / "store.db"), StoreError);
    CHECK_FALSE(fs::exists(open_dir / "store.db"));

    // An existing database with loose permissions is tightened.
    fs::path loose_dir = dir.path() / "loose";
    fs::create_directories(loose_dir);
    Store::open(loose_dir / "store.db");
    fs::permissions(loose_dir / "store.db", fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
    Store::open(loose_dir / "store.db");
    CHECK(mode_of(loose_dir / "store.db") == 0600);
}

TEST_CASE("store: accounts CRUD", "[store]") {
    TempDir dir;
    auto s = Store::open(dir.db());
    Account a = s->accounts().create("Acme");
    CHECK(a.id.rfind("acc_", 0) == 0);
    CHECK(a.created_at.size() == 20);
    CHECK(a.created_at.back() == 'Z');
    CHECK_FALSE(a.enforce_2fa);
    Account b = s->accounts().create("Beta");
    CHECK(s->accounts().all().size() == 2);

    a.name = "Acme Inc";
    a.enforce_2fa = true;
    s->accounts().update(a);
    auto got = s->accounts().get(a.id);
    REQUIRE(got);
    CHECK(got->name == "Acme Inc");
    CHECK(got->enforce_2fa);
    CHECK(got->created_at == a.created_at);
    CHECK_FALSE(s->accounts().get("acc_nope"));

    Account ghost;
    ghost.id = "acc_nope";
    CHECK_THROWS_AS(s->accounts().update(ghost), StoreError);

    User u = s->users().create("u@example.com", "U");
    s->memberships().put({a.id, u.id, Role::owner, MemberStatus::active, "", ""});
    s->memberships().put({b.id, u.id, Role::manager, MemberStatus::active, "", ""});
    auto mine = s->accounts().of_user(u.id);
    REQUIRE(mine.size() == 2);
    std::set<std::string> ids{mine[0].account.id, mine[1].account.id};
    CHECK(ids == std::set<std::string>{a.id, b.id});
    for (const auto& m : mine) CHECK(m.role == (m.account.id == a.id ? Role::owner : Role::manager));
}

TEST_CASE("store: users CRUD", "[store]") {
    TempDir dir;
    auto s = Store::open(dir.db(), UidRange{5000, 5999});
    User u = s->users().create("Jane.Doe+work@Example.com", "Jane Doe");
    CHECK(u.id.rfind("usr_", 0) == 0);
    CHECK(u.unix_name == "jane_doe");
    CHECK(u.uid == 5000);
    CHECK_FALSE(u.tfa_enabled);
    CHECK_FALSE(u.last_login);

    auto by_id = s->users().get(u.id);
    REQUIRE(by_id);
    CHECK(by_id->email == "Jane.Doe+work@Example.com");
    CHECK(by_id->unix_name == u.unix_name);
    REQUIRE(s->users().by_uid(5000));
    CHECK(s->users().by_uid(5000)->id == u.id);
    REQUIRE(s->users().by_email("jane.doe+WORK@example.COM"));  // case-insensitive
    CHECK(s->users().by_email("jane.doe+WORK@example.COM")->id == u.id);
    CHECK_FALSE(s->users().by_email("nobody@example.com"));
    CHECK_FALSE(s->users().by_uid(5001));

    u.name = "Jane D.";
    u.email = "jane@example.com";
    u.unix_name = "ignored";
    u.uid = 42;
    u.last_login = LastLogin{"2026-11-28T03:07:00Z", "192.0.2.1", "web1", "ssh", "success"};
    s->users().update(u);
    auto got = s->users().get(u.id);
    REQUIRE(got);
    CHECK(got->name == "Jane D.");
    CHECK(got->email == "jane@example.com");
    CHECK(got->unix_name == "jane_doe");  // never changes
    CHECK(got->uid == 5000);
    REQUIRE(got->last_login);
    CHECK(got->last_login->ip == "192.0.2.1");
    CHECK(got->last_login->method == "ssh");

    User ghost;
    ghost.id = "usr_nope";
    CHECK_THROWS_AS(s->users().update(ghost), StoreError);

    s->users().remove(u.id);
    CHECK_FALSE(s->users().get(u.id));
    CHECK_FALSE(s->users().by_email("jane@example.com"));
}

TEST_CASE("store: memberships CRUD and owner count", "[store]") {
    Fixture f;
    auto& s = *f.store;
    User m = s.users().create("mgr@example.com", "Max Manager");
    s.memberships().put({f.acc.id, m.id, Role::manager, MemberStatus::invited, "", ""});
    auto mem = s.memberships().get(f.acc.id, m.id);
    REQUIRE(mem);
    CHECK(mem->role == Role::manager);
    CHECK(mem->status == MemberStatus::invited);
    CHECK(s.memberships().count_active_owners(f.acc.id) == 1);

    s.memberships().put({f.acc.id, m.id, Role::owner, MemberStatus::active, "", ""});
    auto updated = s.memberships().get(f.acc.id, m.id);
    REQUIRE(updated);
    CHECK(updated->role == Role::owner);
    CHECK(updated->created_at == mem->created_at);
    CHECK(s.memberships().count_active_owners(f.acc.id) == 2);

    s.memberships().put({f.acc.id, m.id, Role::owner, MemberStatus::deactivated, "", ""});
    CHECK(s.memberships().count_active_owners(f.acc.id) == 1);

    auto au = s.memberships().account_user(f.acc.id, m.id);
    REQUIRE(au);
    CHECK(au->user.email == "mgr@example.com");
    CHECK(au->membership.status == MemberStatus::deactivated);
    CHECK(s.memberships().all(f.acc.id).size() == 2);

    s.memberships().remove(f.acc.id, m.id);
    CHECK_FALSE(s.memberships().get(f.acc.id, m.id));
    CHECK(s.users().get(m.id));  // the identity stays
    CHECK(s.memberships().all(f.acc.id).size() == 1);

    CHECK_THROWS_AS(s.memberships().put({"acc_nope", m.id, Role::manager, MemberStatus::active, "", ""}), StoreError);
}

TEST_CASE("store: ssh keys CRUD and conflicts", "[store]") {
    Fixture f;
    auto& s = *f.store;
    SshKey k = make_key(f.acc.id, f.owner.id, "laptop", 1);
    s.ssh_keys().insert(k);
    auto got = s.ssh_keys().get(f.acc.id, k.fingerprint);
    REQUIRE(got);
    CHECK(got->public_key == k.public_key);
    CHECK(got->fingerprint_sha256 == k.fingerprint_sha256);
    CHECK(got->bits == 256);
    CHECK(got->labels == k.labels);
    CHECK_FALSE(got->created_at.empty());

    const auto rev = s.revision();
    SECTION("duplicate name") {
        SshKey dup = make_key(f.acc.id, f.owner.id, "laptop", 2);
        try {
            s.ssh_keys().insert(dup);
            FAIL("no conflict");
        } catch (const Conflict& c) {
            CHECK(c.field == "name");
        }
        CHECK_FALSE(s.ssh_keys().get(f.acc.id, dup.fingerprint));
    }
    SECTION("duplicate key material") {
        SshKey dup = make_key(f.acc.id, f.owner.id, "desktop", 1);
        try {
            s.ssh_keys().insert(dup);
            FAIL("no conflict");
        } catch (const Conflict& c) {
            CHECK(c.field == "public_key");
        }
    }
    SECTION("rename onto an existing name") {
        s.ssh_keys().insert(make_key(f.acc.id, f.owner.id, "desktop", 2));
        const auto rev2 = s.revision();
        SshKey r = make_key(f.acc.id, f.owner.id, "laptop", 2);
        try {
            s.ssh_keys().update(r);
            FAIL("no conflict");
        } catch (const Conflict& c) {
            CHECK(c.field == "name");
        }
        CHECK(s.ssh_keys().get(f.acc.id, r.fingerprint)->name == "desktop");
        CHECK(s.revision() == rev2);
        return;
    }
    CHECK(s.revision() == rev);
    std::int64_t total = 0;
    CHECK(s.ssh_keys().list(f.acc.id, std::nullopt, Page{}, total).size() == 1);
    CHECK(total == 1);

    // The same key in another account is fine: uniqueness is per account.
    Account other = s.accounts().create("Other");
    s.memberships().put({other.id, f.owner.id, Role::owner, MemberStatus::active, "", ""});
    s.ssh_keys().insert(make_key(other.id, f.owner.id, "laptop", 1));

    k.name = "work laptop";
    k.labels = {{"team", "ops"}};
    k.public_key = "ignored";
    s.ssh_keys().update(k);
    got = s.ssh_keys().get(f.acc.id, k.fingerprint);
    REQUIRE(got);
    CHECK(got->name == "work laptop");
    CHECK(got->labels == std::map<std::string, std::string>{{"team", "ops"}});
    CHECK(got->public_key == "ssh-ed25519 AAAAkey1");

    s.ssh_keys().remove(f.acc.id, k.fingerprint);
    CHECK_FALSE(s.ssh_keys().get(f.acc.id, k.fingerprint));
    CHECK(s.ssh_keys().get(other.id, k.fingerprint));
    CHECK_THROWS_AS(s.ssh_keys().update(k), StoreError);

    // A key needs a membership of its owner in the account.
    User stranger = s.users().create("stranger@example.com", "S");
    CHECK_THROWS_AS(s.ssh_keys().insert(make_key(f.acc.id, stranger.id, "x", 9)), StoreError);

    s.ssh_keys().insert(make_key(other.id, f.owner.id, "second", 3));
    s.ssh_keys().remove_of_user(other.id, f.owner.id);
    CHECK(s.ssh_keys().all(other.id).empty());
}

TEST_CASE("store: email is unique case-insensitively and a conflict changes nothing", "[store]") {
    Fixture f;
    auto& s = *f.store;
    const auto rev = s.revision();
    try {
        s.users().create("OWNER@example.com", "Copy");
        FAIL("no conflict");
    } catch (const Conflict& c) {
        CHECK(c.field == "email");
    }
    CHECK(s.revision() == rev);
    CHECK(s.memberships().all(f.acc.id).size() == 1);
    // The uid of the failed insert was not consumed.
    User next = s.users().create("next@example.com", "Next");
    CHECK(next.uid == f.owner.uid + 1);

    next.email = "Owner@Example.com";
    CHECK_THROWS_AS(s.users().update(next), Conflict);
    CHECK(s.users().get(next.id)->email == "next@example.com");
}

TEST_CASE("store: a failed transaction rolls everything back", "[store]") {
    Fixture f;
    auto& s = *f.store;
    const auto rev = s.revision();
    std::string user_id;
    CHECK_THROWS_WITH(s.transaction([&] {
        Account a = s.accounts().create("Doomed");
        User u = s.users().create("doomed@example.com", "D");
        user_id = u.id;
        s.memberships().put({a.id, u.id, Role::owner, MemberStatus::active, "", ""});
        s.ssh_keys().insert(make_key(a.id, u.id, "k", 7));
        s.users().remove(f.owner.id);
        throw std::runtime_error("boom");
    }),
                      "boom");
    CHECK(s.accounts().all().size() == 1);
    CHECK_FALSE(s.users().get(user_id));
    CHECK(s.users().get(f.owner.id));
    CHECK(s.memberships().get(f.acc.id, f.owner.id));
    CHECK(s.revision() == rev);

    // A conflict inside a larger transaction aborts it as a whole if it escapes ...
    CHECK_THROWS_AS(s.transaction([&] {
        s.accounts().create("Also doomed");
        s.users().create("owner@example.com", "dup");
    }),
                    Conflict);
    CHECK(s.accounts().all().size() == 1);

    // ... and undoes only itself when the caller catches it and carries on.
    s.transaction([&] {
        s.accounts().create("Kept");
        try {
            s.transaction([&] {
                s.accounts().create("Inner, undone");
                s.users().create("owner@example.com", "dup");
            });
        } catch (const Conflict&) {
        }
    });
    auto all = s.accounts().all();
    REQUIRE(all.size() == 2);
    CHECK((all[0].name == "Kept" || all[1].name == "Kept"));
    CHECK(s.revision() > rev);
}

TEST_CASE("store: revision is bumped once per write transaction", "[store]") {
    TempDir dir;
    auto s = Store::open(dir.db());
    CHECK(s->revision() == 0);
    Account a = s->accounts().create("A");
    CHECK(s->revision() == 1);
    s->transaction([&] {
        s->accounts().create("B");
        s->accounts().create("C");
        a.name = "A2";
        s->accounts().update(a);
    });
    CHECK(s->revision() == 2);
    s->transaction([&] { s->accounts().all(); });  // reads only
    CHECK(s->revision() == 2);
    s->users().remove("usr_absent");  // changes nothing
    CHECK(s->revision() == 2);
    s->accounts().update(a);
    CHECK(s->revision() == 3);
}

TEST_CASE("store: pagination returns a stable order and the total", "[store]") {
    Fixture f;
    auto& s = *f.store;
    s.transaction([&] {
        for (int i = 0; i < 24; ++i) {
            User u = s.users().create("user" + std::to_string(i) + "@example.com", "U");
            s.memberships().put({f.acc.id, u.id, Role::manager, MemberStatus::active, "", ""});
            s.ssh_keys().insert(make_key(f.acc.id, u.id, "key" + std::to_string(i), i));
            if (i % 2 == 0) s.ssh_keys().insert(make_key(f.acc.id, u.id, "extra" + std::to_string(i), 100 + i));
        }
    });
    std::int64_t total = 0;
    std::set<std::string> seen;
    std::vector<std::string> order;
    for (std::int64_t off = 0; off < 25; off += 10) {
        auto page = s.memberships().list(f.acc.id, Page{off, 10}, total);
        CHECK(total == 25);
        CHECK(page.size() == static_cast<std::size_t>(std::min<std::int64_t>(10, 25 - off)));
        for (const auto& au : page) {
            seen.insert(au.user.id);
            order.push_back(au.user.id);
        }
    }
    CHECK(seen.size() == 25);
    std::vector<std::string> all;
    for (const auto& au : s.memberships().all(f.acc.id)) all.push_back(au.user.id);
    CHECK(all == order);
    CHECK(s.memberships().list(f.acc.id, Page{100, 10}, total).empty());
    CHECK(total == 25);

    auto keys = s.ssh_keys().list(f.acc.id, std::nullopt, Page{30, 20}, total);
    CHECK(total == 36);
    CHECK(keys.size() == 6);
    // A user from the loop (the fixture owner has no keys and may sort last within a second).
    auto own = s.ssh_keys().list(f.acc.id, keys.back().user_id, Page{}, total);
    CHECK((total == 1 || total == 2));
    CHECK(own.size() == static_cast<std::size_t>(total));
    CHECK(s.ssh_keys().all(f.acc.id).size() == 36);
}

TEST_CASE("store: member filters run in SQL: role, status, search with LIKE's wildcards literal", "[store]") {
    Fixture f;  // the owner: owner@example.com, "Olivia Owner"
    auto& s = *f.store;
    auto add = [&](const std::string& email, const std::string& name, Role role, MemberStatus status) {
        User u = s.users().create(email, name);
        s.memberships().put({f.acc.id, u.id, role, status, "", ""});
        return u.id;
    };
    const auto pct = add("100%off@example.com", "Percy Cent", Role::manager, MemberStatus::active);
    const auto under = add("a_b@example.com", "Under Score", Role::manager, MemberStatus::invited);
    add("axb@example.com", "Ex Tra", Role::manager, MemberStatus::deactivated);
    const auto bs = add("back@example.com", "Back\\Slash", Role::owner, MemberStatus::active);
    auto ids = [&](const MemberFilter& filter, Page page = {}) {
        std::int64_t total = -1;
        std::set<std::string> out;
        for (const auto& au : s.memberships().list(f.acc.id, filter, page, total)) out.insert(au.user.id);
        return std::make_pair(out, total);
    };
    using Ids = std::set<std::string>;
    CHECK(ids({std::nullopt, std::nullopt, "%"}).first == Ids{pct});           // a literal %
    CHECK(ids({std::nullopt, std::nullopt, "a_b"}).first == Ids{under});       // _ is not "any character"
    CHECK(ids({std::nullopt, std::nullopt, "\\"}).first == Ids{bs});         // a literal backslash
    CHECK(ids({std::nullopt, std::nullopt, "PERCY"}).first == Ids{pct});       // name, ASCII case-insensitive
    CHECK(ids({std::nullopt, std::nullopt, "OLIVIA"}).first == Ids{f.owner.id});
    CHECK(ids({std::nullopt, std::nullopt, "nobody"}).second == 0);
    CHECK(ids({Role::owner, std::nullopt, std::nullopt}).first == Ids{f.owner.id, bs});
    CHECK(ids({Role::manager, MemberStatus::active, std::nullopt}).first == Ids{pct});
    CHECK(ids({std::nullopt, MemberStatus::invited, "score"}).first == Ids{under});
    // total counts every match; the page holds some of them.
    auto [page, total] = ids({std::nullopt, std::nullopt, "example.com"}, Page{1, 2});
    CHECK(total == 5);
    CHECK(page.size() == 2);
    // Unix names match too.
    auto au = s.memberships().account_user(f.acc.id, pct);
    REQUIRE(au);
    CHECK(ids({std::nullopt, std::nullopt, au->user.unix_name}).first.count(pct) == 1);
}

TEST_CASE("store: unix names stay unique for colliding emails", "[store]") {
    TempDir dir;
    auto s = Store::open(dir.db());
    User a = s->users().create("alice@a.example", "Alice A");
    User b = s->users().create("alice@b.example", "Alice B");
    User c = s->users().create("Alice+x@c.example", "Alice C");
    CHECK(a.unix_name == "alice");
    CHECK(b.unix_name != a.unix_name);
    CHECK(c.unix_name != a.unix_name);
    CHECK(c.unix_name != b.unix_name);
    CHECK(b.unix_name.rfind("alice", 0) == 0);
    User root = s->users().create("root@example.com", "Not root");
    CHECK(root.unix_name != "root");
}

TEST_CASE("store: uids are allocated in order within the range", "[store]") {
    TempDir dir;
    auto s = Store::open(dir.db(), UidRange{70000, 70002});
    CHECK(s->users().create("a@x.example", "A").uid == 70000);
    User b = s->users().create("b@x.example", "B");
    CHECK(b.uid == 70001);
    User c = s->users().create("c@x.example", "C");
    CHECK(c.uid == 70002);
    const auto rev = s->revision();
    CHECK_THROWS_WITH(s->users().create("d@x.example", "D"), "uid range exhausted");
    CHECK_FALSE(s->users().by_email("d@x.example"));
    CHECK(s->revision() == rev);
    // A freed uid is not handed out again: the old owner's files may still exist.
    s->users().remove(c.id);
    CHECK_THROWS_AS(s->users().create("d@x.example", "D"), StoreError);
    s.reset();

    // A wider range on reopen continues after the high-water mark.
    s = Store::open(dir.db(), UidRange{70000, 70010});
    CHECK(s->users().create("d@x.example", "D").uid == 70003);
    CHECK_THROWS_AS(Store::open(dir.db(), UidRange{10, 5}), StoreError);
}

TEST_CASE("store: uids and names used by local accounts are skipped at allocation", "[store]") {
    TempDir dir;
    std::set<std::uint32_t> local_uids{70000, 70001, 70003};
    std::set<std::string> local_names{"jane", "jane2"};
    LocalAccounts local;
    local.uid_taken = [&](std::uint32_t uid) { return local_uids.count(uid) != 0; };
    local.name_taken = [&](const std::string& name) { return local_names.count(name) != 0; };
    auto s = Store::open(dir.db(), UidRange{70000, 70005}, local);

    User jane = s->users().create("jane@example.com", "Jane");
    CHECK(jane.uid == 70002);
    CHECK(jane.unix_name == "jane3");
    User bob = s->users().create("bob@example.com", "Bob");
    CHECK(bob.uid == 70004);  // 70003 is local
    CHECK(bob.unix_name == "bob");
    // A local account appearing later does not change an existing member (publication
    // reports that collision); only new allocations skip it.
    local_uids.insert(70005);
    CHECK_THROWS_WITH(s->users().create("c@example.com", "C"), "uid range exhausted");
    CHECK(s->users().get(jane.id)->uid == 70002);

    // The real lookup: root (uid 0) is taken on every machine; a name nobody has is not.
    auto passwd = LocalAccounts::from_passwd();
    CHECK(passwd.uid_taken(0));
    CHECK(passwd.name_taken("root"));
    CHECK_FALSE(passwd.name_taken("portal-no-such-user-x"));
}

TEST_CASE("store: deleting users and memberships cascades", "[store]") {
    Fixture f;
    auto& s = *f.store;
    Account other = s.accounts().create("Other");
    User m = s.users().create("m@example.com", "M");
    s.memberships().put({f.acc.id, m.id, Role::manager, MemberStatus::active, "", ""});
    s.memberships().put({other.id, m.id, Role::owner, MemberStatus::active, "", ""});
    s.ssh_keys().insert(make_key(f.acc.id, m.id, "a", 1));
    s.ssh_keys().insert(make_key(other.id, m.id, "b", 2));
    s.ssh_keys().insert(make_key(f.acc.id, f.owner.id, "owner", 3));
    TfaRecord r;
    r.enabled = true;
    r.secret_ciphertext = std::string("\x00\x01secret", 8);
    r.recovery_code_hashes = {"h1", "h2"};
    s.tfa().put(m.id, r);

    s.memberships().remove(f.acc.id, m.id);
    CHECK_FALSE(s.ssh_keys().get(f.acc.id, "aa:bb:1"));
    CHECK(s.ssh_keys().get(other.id, "aa:bb:2"));
    CHECK(s.tfa().get(m.id).enabled);  // 2FA belongs to the user, not the membership

    s.users().remove(m.id);
    CHECK_FALSE(s.ssh_keys().get(other.id, "aa:bb:2"));
    CHECK_FALSE(s.memberships().get(other.id, m.id));
    CHECK(s.accounts().of_user(m.id).empty());
    TfaRecord gone = s.tfa().get(m.id);
    CHECK_FALSE(gone.enabled);
    CHECK(gone.recovery_code_hashes.empty());
    CHECK(s.ssh_keys().get(f.acc.id, "aa:bb:3"));
    auto db = sqlite::Db::open(f.dir.db());
    CHECK(db.query_int("SELECT COUNT(*) FROM tfa") == 0);
    CHECK(db.query_int("SELECT COUNT(*) FROM tfa_recovery_codes") == 0);
}

TEST_CASE("store: tfa records round-trip and replace", "[store]") {
    Fixture f;
    auto& s = *f.store;
    TfaRecord none = s.tfa().get(f.owner.id);
    CHECK_FALSE(none.enabled);
    CHECK(none.last_accepted_step == -1);

    TfaRecord pending;
    pending.pending_ciphertext = std::string("\xff\x00pending", 9);
    pending.pending_expires_at = "2026-11-28T03:17:00Z";
    s.tfa().put(f.owner.id, pending);
    TfaRecord got = s.tfa().get(f.owner.id);
    CHECK(got.pending_ciphertext == pending.pending_ciphertext);
    CHECK(got.pending_expires_at == pending.pending_expires_at);
    CHECK_FALSE(s.users().get(f.owner.id)->tfa_enabled);

    TfaRecord on;
    on.enabled = true;
    on.secret_ciphertext = std::string("\x01\x02\x00\x03", 4);
    on.last_accepted_step = 59000123;
    on.recovery_code_hashes = {"c", "a", "b"};
    s.tfa().put(f.owner.id, on);
    got = s.tfa().get(f.owner.id);
    CHECK(got.enabled);
    CHECK(got.secret_ciphertext == on.secret_ciphertext);
    CHECK(got.pending_ciphertext.empty());
    CHECK(got.last_accepted_step == 59000123);
    CHECK(got.recovery_code_hashes == on.recovery_code_hashes);
    CHECK(s.users().get(f.owner.id)->tfa_enabled);

    on.recovery_code_hashes = {"a"};  // one used up
    s.tfa().put(f.owner.id, on);
    CHECK(s.tfa().get(f.owner.id).recovery_code_hashes == std::vector<std::string>{"a"});

    s.tfa().put(f.owner.id, TfaRecord{});
    CHECK_FALSE(s.users().get(f.owner.id)->tfa_enabled);
    CHECK(s.tfa().get(f.owner.id).recovery_code_hashes.empty());
    CHECK_THROWS_AS(s.tfa().put("usr_nope", on), StoreError);
}

TEST_CASE("store: timestamps are RFC 3339 UTC", "[store]") {
    CHECK(format_rfc3339(0) == "1970-01-01T00:00:00Z");
    CHECK(format_rfc3339(1795835220) == "2026-11-28T03:07:00Z");
    CHECK(now_rfc3339().size() == 20);
}

TEST_CASE("store: scales to 10000 users with 3 keys each (2000 under ASan)", "[store][scale]") {
    TempDir dir;
    auto s = Store::open(dir.db());
    Account a = s->accounts().create("Big");
    s->transaction([&] {
        for (int i = 0; i < portal::test::kScaleMembers; ++i) {
            User u = s->users().create("user" + std::to_string(i) + "@example.com", "U");
            s->memberships().put({a.id, u.id, i == 0 ? Role::owner : Role::manager, MemberStatus::active, "", ""});
            for (int j = 0; j < 3; ++j) {
                s->ssh_keys().insert(make_key(a.id, u.id, "k" + std::to_string(i * 3 + j), i * 3 + j));
            }
        }
    });
    auto users = s->memberships().all(a.id);
    auto keys = s->ssh_keys().all(a.id);
    CHECK(users.size() == static_cast<std::size_t>(portal::test::kScaleMembers));
    CHECK(keys.size() == static_cast<std::size_t>(3 * portal::test::kScaleMembers));
    std::int64_t total = 0;
    CHECK(s->ssh_keys().list(a.id, users[static_cast<std::size_t>(portal::test::kScaleMembers / 2)].user.id, Page{}, total).size() == 3);
    // Load times: bench/login_view_bench (StoreLoad), not a unit test's wall clock.
}

TEST_CASE("store: TOTP failure states round-trip, and an empty one is forgotten", "[store][tfa]") {
    TempDir dir;
    auto s = Store::open(dir.db());
    User u = s->users().create("limited@example.com", "L");
    CHECK(s->tfa().failure_states().empty());
    s->tfa().put_failure_state(u.id, {{1700000000000, 1700000001000}, std::nullopt});
    s->tfa().put_failure_state(u.id, {{}, 1700000300000});
    auto all = s->tfa().failure_states();
    REQUIRE(all.size() == 1);
    CHECK(all[0].first == u.id);
    CHECK(all[0].second.failures_ms.empty());
    CHECK(all[0].second.locked_until_ms == std::optional<std::int64_t>(1700000300000));
    s->tfa().put_failure_state(u.id, {{1700000400000}, std::nullopt});
    all = s->tfa().failure_states();
    REQUIRE(all.size() == 1);
    CHECK(all[0].second.failures_ms == std::vector<std::int64_t>{1700000400000});
    CHECK_FALSE(all[0].second.locked_until_ms);
    s->tfa().put_failure_state(u.id, {});
    CHECK(s->tfa().failure_states().empty());
    // Deleting the user takes their state with them.
    s->tfa().put_failure_state(u.id, {{}, 1700000300000});
    s->users().remove(u.id);
    CHECK(s->tfa().failure_states().empty());
}

TEST_CASE("store: counting an account's active owners uses an index, not every membership", "[store]") {
    TempDir dir;
    { auto s = Store::open(dir.db()); }
    auto db = sqlite::Db::open(dir.db());
    auto q = db.prepare(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM memberships WHERE account_id = 'a' AND role = 'owner' AND status = 'active'");
    std::string plan;
    while (q.step()) plan += q.column_text(3) + "\n";
    INFO(plan);
    CHECK(plan.find("memberships_account_role") != std::string::npos);
}

TEST_CASE("store: the login view reads an account's keys in index order, without sorting them", "[store]") {
    TempDir dir;
    { auto s = Store::open(dir.db()); }
    auto db = sqlite::Db::open(dir.db());
    auto q = db.prepare("EXPLAIN QUERY PLAN SELECT k.user_id FROM ssh_keys k INDEXED BY ssh_keys_account_created"
                        " WHERE k.account_id = 'a' ORDER BY k.created_at, k.rowid");
    std::string plan;
    while (q.step()) plan += q.column_text(3) + "\n";
    INFO(plan);
    CHECK(plan.find("ssh_keys_account_created") != std::string::npos);
    CHECK(plan.find("TEMP B-TREE") == std::string::npos);
}

TEST_CASE("store: the login view's members come sorted by unix name, whatever the ids and roles", "[store]") {
    Fixture f;
    auto& s = *f.store;
    // Names created out of order; ids are random, so the index order (role, status, user id)
    // is not the names' order either.
    for (const char* who : {"zed", "amy", "mia", "bob", "uma", "cat", "ned", "eve", "kim", "dan"}) {
        User u = s.users().create(std::string(who) + "@example.com", who);
        s.memberships().put({f.acc.id, u.id, Role::manager, MemberStatus::active, "", ""});
    }
    const auto rows = s.login_rows().members(f.acc.id);
    REQUIRE(rows.size() == 11);
    std::vector<std::string> names;
    std::string listed;
    for (const auto& r : rows) {
        names.push_back(r.unix_name);
        listed += r.unix_name + " ";
    }
    INFO(listed);
    CHECK(std::is_sorted(names.begin(), names.end()));
}

}  // namespace store_test
