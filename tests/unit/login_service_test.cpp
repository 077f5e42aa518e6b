// LoginService (the daemon's answers on the login socket) against a real Store, the login
// view built from it, the refresher, and the login socket itself.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <unordered_set>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "keyd/login/login_service.h"
#include "keyd/login/login_socket.h"
#include "keyd/login/login_view.h"
#include "keyd/login/refresher.h"
#include "keyd/login/state_dir_manifest.h"
#include "keyd/revoke/allowed_record.h"
#include "keyd/revoke/allowed_record_file.h"
#include "keyd/store/store.h"
#include "keyd/store/timestamp.h"
#include "keyd/tfa/secret_box.h"
#include "keyd/tfa/tfa_service.h"
#include "shared/base32.h"
#include "shared/ipc/framing.h"
#include "shared/ipc/login_client.h"
#include "shared/ipc/login_rules.h"
#include "shared/ipc/state_dir.h"
#include "shared/ipc/state_file.h"
#include "shared/totp.h"
#include "tests/test_scale.h"
#include "tests/unit/support/prerequisite.h"
#include "tests/unit/support/temp_dir.h"

namespace login_service_test {

namespace fs = std::filesystem;
using namespace portal;
using namespace std::chrono_literals;

namespace {

using TempDir = portal::test::TempDir;

SshKey make_key(const Account& a, const User& u, const std::string& name, int n) {
    SshKey k;
    k.account_id = a.id;
    k.user_id = u.id;
    k.name = name;
    k.fingerprint = "md5:" + u.id + ":" + std::to_string(n);
    k.fingerprint_sha256 = "SHA256:" + u.unix_name + std::to_string(n);
    k.public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA" + u.unix_name + std::to_string(n);
    k.type = "ssh-ed25519";
    k.bits = 256;
    return k;
}

// An account with: alice (owner, 2 keys), bob (manager, 1 key), carol (manager, deactivated),
// dave (support), erin (invited manager).
struct World {
    TempDir dir;
    std::unique_ptr<store::Store> store = store::Store::open(dir.path() / "portal.db");
    std::int64_t now = 1'800'000'000;  // the tests' clock (seconds)
    tfa::TfaService tfa;
    Account account;
    User alice, bob, carol, dave, erin;
    login::StoreLoginStateSource source;
    login::LoginService service;

    static tfa::Settings settings() {
        tfa::Settings s;
        s.limits.max_failures = 3;
        s.limits.window = 60s;
        s.limits.lockout = 60s;
        return s;
    }
    std::chrono::system_clock::time_point clock() const {
        return std::chrono::system_clock::time_point(std::chrono::seconds(now));
    }

    World()
        : tfa(*store, SecretBox::load_or_create(dir.path() / "tfa.key"), settings(), [this] { return clock(); }),
          source(*store, login::ViewSettings{}, [this] { return clock(); }),
          service(*store, tfa, "testhost", [this] { return clock(); }) {
        account = store->accounts().create("Example");
        auto member = [&](const std::string& email, Role role, MemberStatus status) {
            User u = store->users().create(email, email);
            store->memberships().put(Membership{account.id, u.id, role, status, "", ""});
            return u;
        };
        alice = member("alice@example.com", Role::owner, MemberStatus::active);
        bob = member("bob@example.com", Role::manager, MemberStatus::active);
        carol = member("carol@example.com", Role::manager, MemberStatus::deactivated);
        dave = member("dave@example.com", Role::support, MemberStatus::active);
        erin = member("erin@example.com", Role::manager, MemberStatus::invited);
        store->ssh_keys().insert(make_key(account, alice, "alice laptop", 1));
        store->ssh_keys().insert(make_key(account, alice, "alice desk", 2));
        store->ssh_keys().insert(make_key(account, bob, "bob", 1));
        store->ssh_keys().insert(make_key(account, carol, "carol", 1));
        store->ssh_keys().insert(make_key(account, dave, "dave", 1));
        store->ssh_keys().insert(make_key(account, erin, "erin", 1));
        refresh();
    }

    void refresh() { service.update(std::make_shared<const ipc::LoginState>(source.load())); }

    // Enrols `u` in TOTP; returns the secret.
    std::vector<std::uint8_t> enrol(const User& u) {
        auto e = tfa.begin(u);
        auto secret = *base32_decode(e.secret_base32);
        std::vector<std::string> codes;
        std::chrono::seconds retry{0};
        REQUIRE(tfa.confirm(u, totp_code(secret, now, TotpParams{}), codes, retry) == tfa::TfaService::ConfirmError::none);
        now += 30;  // the confirming code's step is spent
        refresh();
        return secret;
    }

    ipc::GetAuthorizedKeysReply keys(const User& u, std::optional<std::string> fp = std::nullopt) {
        return service.get_authorized_keys({u.unix_name, std::move(fp)});
    }
    ipc::CheckAccountReply check(const std::string& name) { return service.check_account({name, "192.0.2.7", "sshd"}); }
    ipc::VerifyCodeReply verify(const std::string& name, const std::string& code) {
        return service.verify_code({name, code, "192.0.2.7", "sshd"});
    }
};

}  // namespace

TEST_CASE("login view: members, roles, keys as lines with SHA256 fingerprints") {
    World w;
    auto s = w.source.load();
    CHECK(s.account_id == w.account.id);
    CHECK(s.revision == w.store->revision());
    CHECK(s.generated_at == w.now);
    CHECK(s.grace_seconds == 3600);
    CHECK(s.members.size() == 5);
    const ipc::LoginMember* a = s.find(w.alice.unix_name);
    REQUIRE(a);
    CHECK(a->uid == w.alice.uid);
    CHECK(a->user_id == w.alice.id);
    CHECK(a->role == Role::owner);
    CHECK(a->status == MemberStatus::active);
    CHECK_FALSE(a->tfa_enabled);
    REQUIRE(a->keys.size() == 2);
    CHECK(a->keys[0].line == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAalice1 alice laptop");
    CHECK(a->keys[0].fingerprint_sha256 == "SHA256:alice1");
    CHECK(s.find(w.carol.unix_name)->status == MemberStatus::deactivated);
}

TEST_CASE("login view: a key name cannot start a second authorized_keys line") {
    CHECK(login::authorized_key_line("ssh-ed25519 AAAA", "evil\ncommand=\"sh\" ssh-ed25519 BBBB\r") ==
          "ssh-ed25519 AAAA evil_command=\"sh\" ssh-ed25519 BBBB_");
    CHECK(login::authorized_key_line("ssh-ed25519 AAAA", "") == "ssh-ed25519 AAAA");
}

TEST_CASE("login view: follows the configured account, or none") {
    World w;
    Account other = w.store->accounts().create("Other");
    login::StoreLoginStateSource src(*w.store, login::ViewSettings{other.id, {Role::owner}, 60s}, [&] { return w.clock(); });
    auto s = src.load();
    CHECK(s.account_id == other.id);
    CHECK(s.members.empty());
    CHECK(s.grace_seconds == 60);
    CHECK(s.login_roles == std::vector<Role>{Role::owner});
    src.set_settings(login::ViewSettings{"acc_missing", {Role::owner}, 60s});
    s = src.load();
    CHECK(s.account_id == "acc_missing");
    CHECK(s.members.empty());
}

TEST_CASE("login service: keys only for members allowed to log in") {
    World w;
    auto a = w.keys(w.alice);
    CHECK(a.portal_user);
    CHECK(a.keys == std::vector<std::string>{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAalice1 alice laptop",
                                             "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAalice2 alice desk"});
    CHECK(w.keys(w.bob).keys.size() == 1);
    for (const User* u : {&w.carol, &w.dave, &w.erin}) {
        auto r = w.keys(*u);
        CHECK(r.portal_user);
        CHECK(r.keys.empty());
    }
    auto root = w.service.get_authorized_keys({"root", std::nullopt});
    CHECK_FALSE(root.portal_user);
    CHECK(root.keys.empty());
}

TEST_CASE("login service: the fingerprint filter returns only the matching key") {
    World w;
    auto r = w.keys(w.alice, "SHA256:alice2");
    CHECK(r.portal_user);
    CHECK(r.keys == std::vector<std::string>{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAalice2 alice desk"});
    r = w.keys(w.alice, "SHA256:bob1");  // someone else's key
    CHECK(r.portal_user);
    CHECK(r.keys.empty());
}

TEST_CASE("login service: CheckAccount decisions carry the rules' reasons") {
    World w;
    auto a = w.check(w.alice.unix_name);
    CHECK(a.portal_user);
    CHECK(a.allow);
    CHECK(a.reason == "allowed");
    CHECK_FALSE(a.tfa_required);

    auto c = w.check(w.carol.unix_name);
    CHECK(c.portal_user);
    CHECK_FALSE(c.allow);
    CHECK(c.reason == "deactivated");
    CHECK(c.message == ipc::message_for("deactivated"));
    CHECK(w.check(w.dave.unix_name).reason == "role_not_allowed");
    CHECK(w.check(w.erin.unix_name).reason == "invited");

    auto nobody = w.check("root");
    CHECK_FALSE(nobody.portal_user);
    CHECK_FALSE(nobody.allow);
    CHECK(nobody.reason == "not_portal_user");
}

TEST_CASE("login service: a deactivated member gets no keys after the next update") {
    World w;
    REQUIRE(w.keys(w.bob).keys.size() == 1);
    w.store->memberships().put(Membership{w.account.id, w.bob.id, Role::manager, MemberStatus::deactivated, "", ""});
    CHECK(w.keys(w.bob).keys.size() == 1);  // answers come from the state in memory...
    w.refresh();                            // ...until it is swapped
    CHECK(w.keys(w.bob).keys.empty());
    CHECK(w.check(w.bob.unix_name).reason == "deactivated");
}

TEST_CASE("login service: Enforce 2FA refuses a member without 2FA, requires a code from one with it") {
    World w;
    w.enrol(w.alice);
    Account a = *w.store->accounts().get(w.account.id);
    a.enforce_2fa = true;
    w.store->accounts().update(a);
    w.refresh();

    auto b = w.check(w.bob.unix_name);
    CHECK(b.portal_user);
    CHECK_FALSE(b.allow);
    CHECK(b.reason == "tfa_enrolment_required");
    // Whether such a member still gets keys (to be refused with a message at the PAM step) is
    // the shared rule's call: the service must answer exactly as it does.
    const auto st = w.service.state();
    CHECK(w.keys(w.bob).keys == ipc::authorized_keys_for(*st, w.bob.unix_name, std::nullopt, ipc::policy_of(*st)).keys);

    auto al = w.check(w.alice.unix_name);
    CHECK(al.allow);
    CHECK(al.tfa_required);
    CHECK(w.keys(w.alice).keys.size() == 2);
}

TEST_CASE("login service: VerifyCode ok, wrong, replay, locked") {
    World w;
    auto secret = w.enrol(w.alice);
    REQUIRE(w.check(w.alice.unix_name).tfa_required);

    const std::string code = totp_code(secret, w.now, TotpParams{});
    auto ok = w.verify(w.alice.unix_name, code);
    CHECK(ok.portal_user);
    CHECK(ok.result == ipc::VerifyResult::ok);

    auto replay = w.verify(w.alice.unix_name, code);
    CHECK(replay.portal_user);
    CHECK(replay.result == ipc::VerifyResult::wrong_code);

    w.now += 30;
    const std::string good = totp_code(secret, w.now, TotpParams{});
    const std::string wrong = good == "000000" ? "111111" : "000000";
    // The replay was the 1st failure of 3.
    CHECK(w.verify(w.alice.unix_name, wrong).result == ipc::VerifyResult::wrong_code);
    auto third = w.verify(w.alice.unix_name, wrong);
    CHECK(third.result == ipc::VerifyResult::wrong_code);
    CHECK(third.retry_after > 0);
    auto locked = w.verify(w.alice.unix_name, good);  // even the right code, while locked
    CHECK(locked.result == ipc::VerifyResult::locked);
    CHECK(locked.retry_after > 0);
    CHECK(locked.retry_after <= 60);

    w.now += 61;
    CHECK(w.verify(w.alice.unix_name, totp_code(secret, w.now, TotpParams{})).result == ipc::VerifyResult::ok);
}

TEST_CASE("login service: VerifyCode for members without 2FA, refused members and strangers") {
    World w;
    auto b = w.verify(w.bob.unix_name, "123456");
    CHECK(b.portal_user);
    CHECK(b.result == ipc::VerifyResult::not_enrolled);

    // A refused member's code is not even looked at (no lockout counted, no step spent).
    auto secret = w.enrol(w.carol);
    auto c = w.verify(w.carol.unix_name, totp_code(secret, w.now, TotpParams{}));
    CHECK(c.portal_user);
    CHECK(c.result == ipc::VerifyResult::wrong_code);

    auto root = w.verify("root", "123456");
    CHECK_FALSE(root.portal_user);
    CHECK(root.result != ipc::VerifyResult::ok);
}

TEST_CASE("login service: a session opening records the last login") {
    World w;
    w.service.session_event({w.bob.unix_name, ipc::SessionEventKind::open, "198.51.100.4", "sshd", "ssh"});
    auto u = w.store->users().get(w.bob.id);
    REQUIRE(u->last_login);
    CHECK(u->last_login->at == store::format_rfc3339(w.now));
    CHECK(u->last_login->ip == "198.51.100.4");
    CHECK(u->last_login->host == "testhost");
    CHECK(u->last_login->method == "ssh");
    CHECK(u->last_login->status == "success");

    w.now += 100;
    w.service.session_event({w.bob.unix_name, ipc::SessionEventKind::close, "198.51.100.4", "sshd", "ssh"});
    CHECK(w.store->users().get(w.bob.id)->last_login->at == u->last_login->at);  // close changes nothing
    w.service.session_event({"root", ipc::SessionEventKind::open, "", "sshd", ""});  // not ours: ignored
}

// ---- refresher -----------------------------------------------------------------------------

namespace {

// Plans like userdb::plan_publication (invited members and roles that may not log in are
// not published; one name collides), counts publications.
struct FakePublisher final : login::Publisher {
    std::string colliding;
    int published = 0;
    std::shared_ptr<const ipc::LoginState> last;
    login::PublicationPlan plan(ipc::LoginState& state) override {
        login::PublicationPlan p;
        auto& w = p.warnings;
        for (auto& m : state.members) {
            const auto& roles = state.login_roles;
            if (m.status == MemberStatus::invited || std::find(roles.begin(), roles.end(), m.role) == roles.end())
                m.published = false;
            if (m.unix_name == colliding) {
                m.published = false;
                w.push_back(m.unix_name + ": name exists locally");
                p.collisions.push_back({m.unix_name, m.uid, m.user_id, "name exists locally"});
            }
        }
        return p;
    }
    void publish(const std::shared_ptr<const ipc::LoginState>& state,
                 const std::unordered_set<std::string>* changed) override {
        ++published;
        last = state;
        last_changed = changed ? std::optional(*changed) : std::nullopt;
    }
    std::optional<std::unordered_set<std::string>> last_changed;
};

struct RefresherWorld : World {
    boost::asio::io_context io;
    FakePublisher publisher;
    std::vector<std::uint32_t> terminated;
    login::RefresherSettings settings() const {
        login::RefresherSettings s;
        s.state_dir = state_dir();
        s.touch_interval = 50ms;
        return s;
    }
    login::Refresher refresher{io, source, service, &publisher,
                               [this](std::uint32_t uid) { terminated.push_back(uid); }, settings()};

    void set_status(const User& u, Role r, MemberStatus st) {
        store->memberships().put(Membership{account.id, u.id, r, st, "", ""});
        refresher.request_refresh();
    }
    void run() {
        io.restart();
        io.poll();
    }
    fs::path state_dir() const { return dir.path() / "login-state"; }
    fs::path header() const { return state_dir() / ipc::kStateHeaderName; }
    fs::path entry(const User& u) const { return state_dir() / u.unix_name; }
};

}  // namespace

TEST_CASE("refresher: the publisher is told which members changed since the last publication") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());
    CHECK_FALSE(w.publisher.last_changed);  // the first: everything
    w.set_status(w.bob, Role::owner, MemberStatus::active);
    w.run();
    REQUIRE(w.publisher.published == 2);
    REQUIRE(w.publisher.last_changed);
    CHECK(*w.publisher.last_changed == std::unordered_set<std::string>{w.bob.unix_name});
    // A collision flips `published`: that member changed too.
    w.publisher.colliding = w.carol.unix_name;
    REQUIRE(w.refresher.refresh());
    REQUIRE(w.publisher.last_changed);
    CHECK(*w.publisher.last_changed == std::unordered_set<std::string>{w.carol.unix_name});
    REQUIRE(w.refresher.refresh());
    CHECK(w.publisher.last_changed->empty());
}

TEST_CASE("refresher: publishes, swaps the service's state, writes the state directory") {
    RefresherWorld w;
    w.publisher.colliding = w.bob.unix_name;
    REQUIRE(w.refresher.refresh());
    CHECK(w.publisher.published == 1);
    CHECK(w.refresher.warnings() == std::vector<std::string>{w.bob.unix_name + ": name exists locally"});
    // The service answers from the planned state: bob collides, so he is not ours.
    CHECK_FALSE(w.check(w.bob.unix_name).portal_user);
    CHECK(w.check(w.alice.unix_name).allow);

    std::string error;
    auto loaded = ipc::read_state_dir(w.state_dir().string(), w.bob.unix_name, error, w.now);
    INFO(error);
    REQUIRE(loaded);
    REQUIRE(loaded->state.find(w.bob.unix_name));
    CHECK_FALSE(loaded->state.find(w.bob.unix_name)->published);
    CHECK(loaded->state.revision == w.store->revision());
    // The header and one entry per member of the state, each as the service has it.
    CHECK(std::distance(fs::directory_iterator(w.state_dir()), fs::directory_iterator()) == 6);
    for (const auto* u : {&w.alice, &w.bob, &w.carol, &w.dave, &w.erin}) {
        auto entry = ipc::read_member_entry(w.state_dir().string(), u->unix_name, error);
        INFO(u->unix_name << ": " << error);
        REQUIRE(entry);
        CHECK(entry->account_id == w.account.id);
        CHECK(entry->revision == w.store->revision());
        CHECK(entry->member == *w.publisher.last->find(u->unix_name));
    }
    struct stat st {};
    REQUIRE(::stat(w.entry(w.alice).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);  // no helper group here
    REQUIRE(::stat(w.header().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat(w.state_dir().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
}

namespace {

struct FileStamp {
    ino_t ino = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return {st.st_ino, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
}

// Every entry's identity, by name (the header left out).
std::map<std::string, FileStamp> entry_stamps(const fs::path& dir) {
    std::map<std::string, FileStamp> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename() != ipc::kStateHeaderName) out[e.path().filename().string()] = stamp_of(e.path());
    return out;
}

}  // namespace

TEST_CASE("refresher: a change rewrites only the entries that changed, and removes those of members who left") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());
    const auto revision_before = w.store->revision();
    auto before = entry_stamps(w.state_dir());
    REQUIRE(before.size() == 5);
    const FileStamp header_before = stamp_of(w.header());

    std::this_thread::sleep_for(10ms);  // a rewrite gets a new mtime even on a coarse clock
    w.store->ssh_keys().insert(make_key(w.account, w.alice, "alice new", 3));
    w.refresher.request_refresh();
    w.run();
    auto after = entry_stamps(w.state_dir());
    REQUIRE(after.size() == 5);
    for (const auto& [name, st] : after) {
        INFO(name);
        if (name == w.alice.unix_name) CHECK_FALSE(st == before[name]);
        else CHECK(st == before[name]);  // same file, untouched
    }
    CHECK_FALSE(stamp_of(w.header()) == header_before);  // the header always follows the revision
    std::string error;
    auto alice = ipc::read_member_entry(w.state_dir().string(), w.alice.unix_name, error);
    REQUIRE(alice);
    CHECK(alice->member.keys.size() == 3);
    CHECK(alice->revision == w.store->revision());
    CHECK(w.store->revision() > revision_before);
    auto bob = ipc::read_member_entry(w.state_dir().string(), w.bob.unix_name, error);
    REQUIRE(bob);
    CHECK(bob->revision == revision_before);  // written at the revision it last changed
    auto header = ipc::read_state_dir(w.state_dir().string(), w.bob.unix_name, error, w.now);
    REQUIRE(header);
    CHECK(header->state.revision == w.store->revision());

    // erin leaves the account: her entry goes, nothing else is written.
    before = after;
    w.store->memberships().remove(w.account.id, w.erin.id);
    w.refresher.request_refresh();
    w.run();
    after = entry_stamps(w.state_dir());
    CHECK_FALSE(after.count(w.erin.unix_name));
    CHECK(after.size() == 4);
    for (const auto& [name, st] : after) CHECK(st == before[name]);
    CHECK(w.refresher.status().state_file.current);
}

TEST_CASE("refresher: the first write after start reconciles the whole directory") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());
    std::string error;
    // Leftovers of an earlier run: bob's entry as an older revision wrote it (another key), an
    // entry of someone who is no member any more, a temp file of an interrupted write, an entry
    // for the same member in another account, the single state file of older versions, and
    // carol's entry in good order (same content, older revision: kept as it is).
    auto bob = ipc::read_member_entry(w.state_dir().string(), w.bob.unix_name, error);
    REQUIRE(bob);
    const ipc::MemberEntry current_bob = *bob;
    bob->revision = 1;
    bob->member.keys[0].line = "ssh-ed25519 AAAAold bob@old";
    const ipc::StateFileMode mode{0600, {}, {}};
    REQUIRE(ipc::write_member_entry(w.state_dir().string(), *bob, mode, error));
    ipc::MemberEntry gone = current_bob;
    gone.member.unix_name = "olduser";
    REQUIRE(ipc::write_member_entry(w.state_dir().string(), gone, mode, error));
    std::ofstream(w.state_dir() / "dave.Ab12Cd") << "{";
    auto dave = ipc::read_member_entry(w.state_dir().string(), w.dave.unix_name, error);
    REQUIRE(dave);
    dave->account_id = "acc_other";
    REQUIRE(ipc::write_member_entry(w.state_dir().string(), *dave, mode, error));
    auto carol = ipc::read_member_entry(w.state_dir().string(), w.carol.unix_name, error);
    REQUIRE(carol);
    carol->revision = 1;
    REQUIRE(ipc::write_member_entry(w.state_dir().string(), *carol, mode, error));
    const FileStamp carol_stamp = stamp_of(w.entry(w.carol));
    const FileStamp alice_stamp = stamp_of(w.entry(w.alice));
    const fs::path legacy = w.dir.path() / "login-state.json";
    std::ofstream(legacy) << "{\"version\":1}";

    // A restarted daemon: nothing in memory about what the directory holds.
    auto s = w.settings();
    s.legacy_state_file = legacy;
    login::Refresher restarted(w.io, w.source, w.service, &w.publisher, {}, s);
    REQUIRE(restarted.refresh());
    CHECK(restarted.status().state_file.current);
    CHECK_FALSE(fs::exists(legacy));
    CHECK_FALSE(fs::exists(w.state_dir() / "olduser"));
    CHECK_FALSE(fs::exists(w.state_dir() / "dave.Ab12Cd"));
    CHECK(entry_stamps(w.state_dir()).size() == 5);
    bob = ipc::read_member_entry(w.state_dir().string(), w.bob.unix_name, error);
    REQUIRE(bob);
    CHECK(bob->member == current_bob.member);
    CHECK(bob->revision == w.store->revision());
    dave = ipc::read_member_entry(w.state_dir().string(), w.dave.unix_name, error);
    REQUIRE(dave);
    CHECK(dave->account_id == w.account.id);
    CHECK(stamp_of(w.entry(w.carol)) == carol_stamp);  // equal content: not rewritten
    CHECK(stamp_of(w.entry(w.alice)) == alice_stamp);
}

TEST_CASE("refresher: after a clean stop, the manifest spares reading the entries - anything unexpected reads them") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());
    const fs::path manifest = w.state_dir() / login::kManifestName;
    REQUIRE(w.refresher.save_state_dir_manifest());
    REQUIRE(fs::exists(manifest));
    struct stat st {};
    REQUIRE(::stat(manifest.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    std::this_thread::sleep_for(10ms);  // a rewrite gets a new mtime even on a coarse clock
    auto before = entry_stamps(w.state_dir());
    before.erase(login::kManifestName);

    SECTION("a change while stopped: only that entry is written, and the manifest is gone") {
        w.store->ssh_keys().insert(make_key(w.account, w.alice, "alice new", 3));
        login::Refresher restarted(w.io, w.source, w.service, &w.publisher, {}, w.settings());
        REQUIRE(restarted.refresh());
        CHECK_FALSE(fs::exists(manifest));
        CHECK(restarted.status().state_file.current);
        const auto after = entry_stamps(w.state_dir());
        REQUIRE(after.size() == before.size());
        for (const auto& [name, stamp] : after) {
            INFO(name);
            if (name == w.alice.unix_name) CHECK_FALSE(stamp == before.at(name));
            else CHECK(stamp == before.at(name));
        }
        std::string error;
        auto alice = ipc::read_member_entry(w.state_dir().string(), w.alice.unix_name, error);
        REQUIRE(alice);
        CHECK(alice->member.keys.size() == 3);
    }
    SECTION("an entry edited while stopped is trusted only as far as the manifest goes: a lie is read back") {
        // The manifest says bob's entry is current; someone replaced it. With the manifest
        // the daemon would keep it; the directory listing matches, so only the digest can
        // tell: the manifest is rewritten to claim another digest for bob, and bob is rewritten.
        std::string text;
        {
            std::ifstream in(manifest);
            std::ostringstream all;
            all << in.rdbuf();
            text = all.str();
        }
        const auto at = text.find(" " + w.bob.unix_name + "\n");
        REQUIRE(at != std::string::npos);
        text.replace(at - 32, 32, "0123456789abcdef0123456789abcdef");
        ipc::StateFileMode mode{0600, {}, {}};
        std::string error;
        REQUIRE(ipc::write_file_atomically(manifest.string(), text, mode, error));
        login::Refresher restarted(w.io, w.source, w.service, &w.publisher, {}, w.settings());
        REQUIRE(restarted.refresh());
        const auto after = entry_stamps(w.state_dir());
        CHECK_FALSE(after.at(w.bob.unix_name) == before.at(w.bob.unix_name));
        CHECK(after.at(w.alice.unix_name) == before.at(w.alice.unix_name));
    }
    SECTION("a file added while stopped: the whole directory is read, the stranger removed") {
        std::string error;
        auto bob = ipc::read_member_entry(w.state_dir().string(), w.bob.unix_name, error);
        REQUIRE(bob);
        bob->member.unix_name = "stranger";
        REQUIRE(ipc::write_member_entry(w.state_dir().string(), *bob, ipc::StateFileMode{0600, {}, {}}, error));
        login::Refresher restarted(w.io, w.source, w.service, &w.publisher, {}, w.settings());
        REQUIRE(restarted.refresh());
        CHECK_FALSE(fs::exists(w.state_dir() / "stranger"));
        CHECK_FALSE(fs::exists(manifest));
    }
    SECTION("a manifest others may write is not trusted, and removed") {
        ::chmod(manifest.c_str(), 0644);
        std::string error;
        auto bob = ipc::read_member_entry(w.state_dir().string(), w.bob.unix_name, error);
        REQUIRE(bob);
        bob->revision = 1;
        bob->member.keys[0].line = "ssh-ed25519 AAAAold bob@old";  // stale, same name: only reading finds it
        REQUIRE(ipc::write_member_entry(w.state_dir().string(), *bob, ipc::StateFileMode{0600, {}, {}}, error));
        login::Refresher restarted(w.io, w.source, w.service, &w.publisher, {}, w.settings());
        REQUIRE(restarted.refresh());
        CHECK_FALSE(fs::exists(manifest));
        bob = ipc::read_member_entry(w.state_dir().string(), w.bob.unix_name, error);
        REQUIRE(bob);
        CHECK(bob->member.keys[0].line != "ssh-ed25519 AAAAold bob@old");
    }
    SECTION("not written when the directory does not hold the state served") {
        fs::remove(manifest);
        // A write that fails (the directory replaced by a file): the state served is newer
        // than what the directory holds.
        fs::rename(w.state_dir(), w.dir.path() / "state-away");
        std::ofstream(w.state_dir()) << "not a directory";
        w.store->ssh_keys().insert(make_key(w.account, w.alice, "alice newer", 4));
        REQUIRE(w.refresher.refresh());
        CHECK_FALSE(w.refresher.status().state_file.current);
        CHECK_FALSE(w.refresher.save_state_dir_manifest());
        CHECK_FALSE(fs::exists(w.dir.path() / "state-away" / login::kManifestName));
        login::Refresher fresh(w.io, w.source, w.service, &w.publisher, {}, w.settings());
        CHECK_FALSE(fresh.save_state_dir_manifest());  // nothing served yet
    }
    SECTION("a manifest that cannot be removed: nothing is written, the header goes") {
        // Made immovable: a directory of that name with something in it (unlink fails).
        fs::remove(manifest);
        fs::create_directories(manifest / "x");
        w.store->ssh_keys().insert(make_key(w.account, w.alice, "alice newer", 4));
        login::Refresher restarted(w.io, w.source, w.service, &w.publisher, {}, w.settings());
        REQUIRE(restarted.refresh());
        CHECK_FALSE(restarted.status().state_file.current);
        CHECK_FALSE(fs::exists(w.header()));
        CHECK(entry_stamps(w.state_dir()).at(w.alice.unix_name) == before.at(w.alice.unix_name));  // untouched
    }
}

TEST_CASE("state manifest: strict text, a round trip") {
    login::StateDirManifest m;
    m.account_id = "acc_1";
    m.revision = 42;
    m.entries = {{"alice", "0123456789abcdef0123456789abcdef"}, {"bob", "fedcba9876543210fedcba9876543210"}};
    std::string error;
    const auto back = login::manifest_from_text(login::manifest_to_text(m), error);
    INFO(error);
    REQUIRE(back);
    CHECK(back->account_id == "acc_1");
    CHECK(back->revision == 42);
    CHECK(back->entries == m.entries);
    const std::string head = "portal-keyd state manifest 2\naccount acc_1\nrevision 42\n";
    for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
             {"portal-keyd state manifest 1\naccount a\nrevision 1\n", "line 1"},
             {"portal-keyd state manifest 2\naccount \nrevision 1\n", "line 2: account"},
             {"portal-keyd state manifest 2\naccount a\nrevision 01\n", "line 3: revision"},
             {"portal-keyd state manifest 2\naccount a\n", "incomplete"},
             {head + "0123456789abcdef0123456789abcdef alice", "not ended"},
             {head + "0123456789ABCDEF0123456789abcdef alice\n", "line 4: expected"},
             {head + "0123456789abcdef alice\n", "line 4: expected"},
             {head + "0123456789abcdef0123456789abcdef ../etc\n", "line 4: not a member file name"},
             {head + "0123456789abcdef0123456789abcdef account.json\n", "line 4: not a member file name"},
             {head + "0123456789abcdef0123456789abcdef alice\n0123456789abcdef0123456789abcdef alice\n", "line 5: a name listed twice"},
         }) {
        INFO(text);
        CHECK_FALSE(login::manifest_from_text(text, error));
        CHECK(error.find(why) != std::string::npos);
    }
    // Digests follow every field an entry holds.
    ipc::LoginMember a;
    a.unix_name = "alice";
    a.keys = {{"ssh-ed25519 AAAA a", "SHA256:a"}};
    auto b = a;
    CHECK(login::member_digest(a) == login::member_digest(b));
    b.published = false;
    CHECK(login::member_digest(a) != login::member_digest(b));
    b = a;
    b.keys[0].fingerprint_sha256 = "SHA256:b";
    CHECK(login::member_digest(a) != login::member_digest(b));
}

TEST_CASE("refresher: an entry that can be neither written nor removed takes the header with it") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());
    REQUIRE(fs::exists(w.header()));
    // A directory in bob's place (with something in it, so it cannot simply be removed):
    // his new entry cannot be renamed there, and the old one cannot be unlinked.
    fs::remove(w.entry(w.bob));
    fs::create_directories(w.entry(w.bob) / "x");
    w.set_status(w.bob, Role::manager, MemberStatus::deactivated);
    w.run();
    CHECK_FALSE(fs::exists(w.header()));  // portal members refused in fallback
    auto st = w.refresher.status();
    CHECK_FALSE(st.state_file.current);
    CHECK_THAT(st.state_file.error, Catch::Contains(w.entry(w.bob).string()));
    std::string error;
    CHECK_FALSE(ipc::read_state_dir(w.state_dir().string(), w.alice.unix_name, error, w.now));

    // The touch timer retries; while the directory is in the way nothing looks current.
    w.refresher.touch();
    CHECK_FALSE(fs::exists(w.header()));
    fs::remove_all(w.entry(w.bob));
    w.refresher.touch();
    CHECK(w.refresher.status().state_file.current);
    auto loaded = ipc::read_state_dir(w.state_dir().string(), w.bob.unix_name, error, w.now);
    INFO(error);
    REQUIRE(loaded);
    REQUIRE(loaded->state.find(w.bob.unix_name));
    CHECK(loaded->state.find(w.bob.unix_name)->status == MemberStatus::deactivated);
}

TEST_CASE("refresher: a burst of changes is one refresh") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());
    const auto before = w.refresher.refresh_count();
    for (int i = 0; i < 10; ++i) w.refresher.request_refresh();
    CHECK(w.refresher.refresh_count() == before);  // nothing until the io_context runs
    w.run();
    CHECK(w.refresher.refresh_count() == before + 1);
    w.refresher.request_refresh();
    w.run();
    CHECK(w.refresher.refresh_count() == before + 2);
}

TEST_CASE("refresher: members who lose access get their sessions ended") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());

    w.set_status(w.bob, Role::manager, MemberStatus::deactivated);
    w.run();
    CHECK(w.terminated == std::vector<std::uint32_t>{w.bob.uid});
    CHECK(w.keys(w.bob).keys.empty());

    w.terminated.clear();
    w.set_status(w.alice, Role::support, MemberStatus::active);  // role may not log in
    w.run();
    CHECK(w.terminated == std::vector<std::uint32_t>{w.alice.uid});

    w.terminated.clear();
    w.set_status(w.alice, Role::owner, MemberStatus::active);
    w.run();
    CHECK(w.terminated.empty());  // regained access: nothing to end
    w.store->memberships().remove(w.account.id, w.alice.id);
    w.refresher.request_refresh();
    w.run();
    CHECK(w.terminated == std::vector<std::uint32_t>{w.alice.uid});

    // Enforce 2FA asks members to enrol; it does not throw them out.
    w.terminated.clear();
    Account a = *w.store->accounts().get(w.account.id);
    a.enforce_2fa = true;
    w.store->accounts().update(a);
    w.refresher.request_refresh();
    w.run();
    CHECK(w.terminated.empty());
    CHECK(w.check(w.dave.unix_name).reason == "not_published");  // the plan hides other roles
}

TEST_CASE("refresher: a name that starts colliding is not a revocation") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());
    w.publisher.colliding = w.bob.unix_name;
    w.refresher.request_refresh();
    w.run();
    CHECK(w.terminated.empty());
    CHECK_FALSE(w.check(w.bob.unix_name).portal_user);
}

TEST_CASE("refresher: terminate_sessions = false only logs") {
    RefresherWorld w;
    auto s = w.settings();
    s.terminate_sessions = false;
    w.refresher.set_settings(s);
    REQUIRE(w.refresher.refresh());
    w.set_status(w.bob, Role::manager, MemberStatus::deactivated);
    w.run();
    CHECK(w.terminated.empty());
    CHECK(w.keys(w.bob).keys.empty());
}

TEST_CASE("refresher: a failed load keeps the last good state") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());
    struct Failing final : login::LoginStateSource {
        ipc::LoginState load() override { throw std::runtime_error("portal unreachable"); }
        void set_settings(const login::ViewSettings&) override {}
    } failing;
    login::Refresher r(w.io, failing, w.service, &w.publisher, {}, w.settings());
    CHECK_FALSE(r.refresh());
    CHECK(w.keys(w.alice).keys.size() == 2);
}

TEST_CASE("refresher: the state header is re-stamped, and rewritten when it vanished") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());
    const fs::path file = w.header();
    timespec old[2] = {{1000, 0}, {1000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, file.c_str(), old, 0) == 0);
    w.refresher.start_touch_timer();
    w.io.restart();
    w.io.run_for(120ms);
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK(st.st_mtime > 1000);

    fs::remove(file);
    w.io.restart();
    w.io.run_for(120ms);
    CHECK(fs::exists(file));
}

namespace {

// A tmpfs of `size` on `at`, in a private mount namespace of this test process: nothing is
// seen outside, and it goes away with the process at the latest.
class SmallTmpfs {
public:
    SmallTmpfs(const fs::path& at, const std::string& size) : at_(at) {
        static bool private_namespace = false;
        if (!private_namespace) {
            REQUIRE(::unshare(CLONE_NEWNS) == 0);
            REQUIRE(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0);
            private_namespace = true;
        }
        fs::create_directories(at_);
        REQUIRE(::mount("tmpfs", at_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, ("size=" + size + ",mode=0755").c_str()) == 0);
    }
    ~SmallTmpfs() { ::umount2(at_.c_str(), MNT_DETACH); }
    SmallTmpfs(const SmallTmpfs&) = delete;
    SmallTmpfs& operator=(const SmallTmpfs&) = delete;

private:
    fs::path at_;
};

// Writes `path` until the file system is full.
void fill(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const std::string block(4096, 'x');
    for (;;) {
        const ssize_t n = ::write(fd, block.data(), block.size());
        if (n > 0) continue;
        REQUIRE(errno == ENOSPC);
        break;
    }
    ::close(fd);
}

std::optional<ipc::LoadedState> read_state(const fs::path& dir, const User& u, std::int64_t now) {
    std::string error;
    auto s = ipc::read_state_dir(dir.string(), u.unix_name, error, now);
    INFO(error);
    return s;
}

}  // namespace

TEST_CASE("refresher: entries that cannot be written are removed, never re-stamped, and come back") {
    if (!test::prerequisite(::geteuid() == 0, "mounting a small tmpfs needs root")) return;
    RefresherWorld w;
    const fs::path run = w.dir.path() / "run";
    SmallTmpfs tmpfs(run, "64k");
    auto s = w.settings();
    s.state_dir = run / "login-state";
    w.refresher.set_settings(s);
    REQUIRE(w.refresher.refresh());
    const auto before = read_state(s.state_dir, w.bob, w.now);
    REQUIRE(before);
    CHECK(before->state.find(w.bob.unix_name) != nullptr);
    // Whatever the fallback says about bob now: nothing, or that he is not let in.
    const auto bob_refused = [&] {
        std::string error;
        auto st = ipc::read_state_dir(s.state_dir.string(), w.bob.unix_name, error, w.now);
        if (!st) return true;
        const auto* bob = st->state.find(w.bob.unix_name);
        return !bob || bob->status == MemberStatus::deactivated;
    };

    // /run is full; bob is deactivated, and alice gets enough keys that the new state needs
    // more room than the old file gives back when it is removed.
    fill(run / "filler");
    for (int i = 0; i < 100; ++i) w.store->ssh_keys().insert(make_key(w.account, w.alice, "alice extra " + std::to_string(i), 100 + i));
    w.set_status(w.bob, Role::manager, MemberStatus::deactivated);
    w.run();
    CHECK(w.keys(w.bob).keys.empty());  // the login socket follows at once
    // The entry that still let bob in is gone, not kept and re-stamped as if current.
    CHECK(bob_refused());
    CHECK_FALSE(w.refresher.status().state_file.current);

    // The touch timer runs (every 50 ms here) while /run is still full: bob stays out.
    w.refresher.start_touch_timer();
    w.io.restart();
    w.io.run_for(300ms);
    CHECK(bob_refused());
    CHECK_FALSE(w.refresher.status().state_file.current);

    // Room again: the next write brings the current state back.
    fs::remove(run / "filler");
    w.io.restart();
    w.io.run_for(300ms);
    CHECK(w.refresher.status().state_file.current);
    const auto after = read_state(s.state_dir, w.bob, w.now);
    REQUIRE(after);
    CHECK(after->state.revision == w.store->revision());
    CHECK(after->state.find(w.bob.unix_name)->status == MemberStatus::deactivated);
    const auto alice = read_state(s.state_dir, w.alice, w.now);
    REQUIRE(alice);
    CHECK(alice->state.find(w.alice.unix_name)->keys.size() == 102);
}

TEST_CASE("refresher: status says whether the state directory is current, and lists collisions") {
    if (!test::prerequisite(::geteuid() == 0, "mounting a small tmpfs needs root")) return;
    RefresherWorld w;
    const fs::path run = w.dir.path() / "run";
    SmallTmpfs tmpfs(run, "64k");
    auto s = w.settings();
    s.state_dir = run / "login-state";
    w.refresher.set_settings(s);
    w.publisher.colliding = w.bob.unix_name;
    REQUIRE(w.refresher.refresh());
    auto st = w.refresher.status();
    CHECK(st.state_file.current);
    CHECK(st.state_file.error.empty());
    CHECK(st.state_file.revision == w.store->revision());
    CHECK(st.revision == w.store->revision());
    REQUIRE(st.collisions.size() == 1);
    CHECK(st.collisions[0].unix_name == w.bob.unix_name);
    CHECK(st.collisions[0].uid == w.bob.uid);
    CHECK(st.collisions[0].user_id == w.bob.id);
    CHECK(st.collisions[0].reason == "name exists locally");

    fill(run / "filler");
    for (int i = 0; i < 100; ++i) w.store->ssh_keys().insert(make_key(w.account, w.alice, "alice extra " + std::to_string(i), 100 + i));
    w.refresher.request_refresh();
    w.run();
    st = w.refresher.status();
    CHECK_FALSE(st.state_file.current);
    CHECK_THAT(st.state_file.error, Catch::Contains("No space left on device"));
    w.refresher.touch();  // still full
    CHECK_FALSE(w.refresher.status().state_file.current);
    fs::remove(run / "filler");
    w.refresher.touch();
    st = w.refresher.status();
    CHECK(st.state_file.current);
    CHECK(st.state_file.error.empty());
}

TEST_CASE("refresher: a header put in the state header's place is not re-stamped") {
    RefresherWorld w;
    REQUIRE(w.refresher.refresh());
    const fs::path file = w.header();
    // Someone else's file (an old copy restored, say) with an old stamp.
    const fs::path other = w.dir.path() / "other.json";
    fs::copy_file(file, other);
    fs::rename(other, file);
    timespec old[2] = {{1000, 0}, {1000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, file.c_str(), old, 0) == 0);
    struct stat replaced {};
    REQUIRE(::stat(file.c_str(), &replaced) == 0);
    w.refresher.touch();
    struct stat now {};
    REQUIRE(::stat(file.c_str(), &now) == 0);
    // Rewritten from the current state (a new file), not that one re-stamped.
    CHECK(now.st_ino != replaced.st_ino);
    CHECK(w.refresher.status().state_file.current);
}

TEST_CASE("refresher: members who lost access while the daemon was down have their sessions ended at start") {
    const auto record_settings = [](RefresherWorld& w) {
        auto s = w.settings();
        s.allowed_record = w.dir.path() / "allowed-members.json";
        return s;
    };
    RefresherWorld w;
    w.refresher.set_settings(record_settings(w));
    REQUIRE(w.refresher.refresh());
    std::string error;
    auto record = revoke::AllowedRecordFile(w.dir.path() / "allowed-members.json").read(error);
    INFO(error);
    REQUIRE(record);
    std::vector<std::string> names;
    for (const auto& m : *record) names.push_back(m.unix_name);
    CHECK(names == std::vector<std::string>{w.alice.unix_name, w.bob.unix_name});
    struct stat st {};
    REQUIRE(::stat((w.dir.path() / "allowed-members.json").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    // Committed, never published: the daemon died before its refresh.
    w.store->memberships().put(Membership{w.account.id, w.bob.id, Role::manager, MemberStatus::deactivated, "", ""});
    // A fresh daemon: a new refresher over the same files.
    std::vector<std::uint32_t> ended;
    login::Refresher restarted(w.io, w.source, w.service, &w.publisher,
                               [&](std::uint32_t uid) { ended.push_back(uid); }, record_settings(w));
    REQUIRE(restarted.refresh());
    CHECK(ended == std::vector<std::uint32_t>{w.bob.uid});
    // The record follows: bob is no longer in it, so a second restart ends nothing.
    record = revoke::AllowedRecordFile(w.dir.path() / "allowed-members.json").read(error);
    REQUIRE(record);
    CHECK(record->size() == 1);
    ended.clear();
    login::Refresher again(w.io, w.source, w.service, &w.publisher, [&](std::uint32_t uid) { ended.push_back(uid); },
                           record_settings(w));
    REQUIRE(again.refresh());
    CHECK(ended.empty());
}

TEST_CASE("refresher: a revocation is one journal line, and a restart reads the snapshot and its journal") {
    RefresherWorld w;
    auto s = w.settings();
    s.allowed_record = w.dir.path() / "allowed-members.json";
    w.refresher.set_settings(s);
    REQUIRE(w.refresher.refresh());
    struct stat snapshot {};
    REQUIRE(::stat(s.allowed_record.c_str(), &snapshot) == 0);
    const auto journal = w.dir.path() / "allowed-members.json.journal";
    const auto lines = [&] {
        std::ifstream in(journal);
        return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
    };
    CHECK(lines() == 1);  // the header alone

    w.set_status(w.bob, Role::manager, MemberStatus::deactivated);
    w.run();
    CHECK(w.terminated == std::vector<std::uint32_t>{w.bob.uid});
    CHECK(lines() == 2);  // one line: bob no longer allowed
    w.set_status(w.alice, Role::owner, MemberStatus::active);  // a change that moves nobody's verdict
    w.run();
    CHECK(lines() == 2);
    struct stat now {};
    REQUIRE(::stat(s.allowed_record.c_str(), &now) == 0);
    CHECK(now.st_ino == snapshot.st_ino);  // the snapshot was not rewritten

    // A restart with bob still deactivated ends nothing: the journal says he was out already
    // (the snapshot alone would say allowed).
    std::vector<std::uint32_t> ended;
    login::Refresher restarted(w.io, w.source, w.service, &w.publisher,
                               [&](std::uint32_t uid) { ended.push_back(uid); }, s);
    REQUIRE(restarted.refresh());
    CHECK(ended.empty());
    std::string error;
    auto record = revoke::AllowedRecordFile(s.allowed_record).read(error);
    INFO(error);
    REQUIRE(record);
    REQUIRE(record->size() == 1);
    CHECK((*record)[0].unix_name == w.alice.unix_name);
    // Who is allowed had not changed: the restart kept the files as they were...
    REQUIRE(::stat(s.allowed_record.c_str(), &now) == 0);
    CHECK(now.st_ino == snapshot.st_ino);
    CHECK(lines() == 2);
    // ...and appends to that journal.
    w.store->memberships().put(Membership{w.account.id, w.bob.id, Role::manager, MemberStatus::active, "", ""});
    REQUIRE(restarted.refresh());
    CHECK(lines() == 3);
    record = revoke::AllowedRecordFile(s.allowed_record).read(error);
    REQUIRE(record);
    CHECK(record->size() == 2);
}

TEST_CASE("refresher: an unreadable record of who was allowed ends nothing and is replaced") {
    RefresherWorld w;
    auto s = w.settings();
    s.allowed_record = w.dir.path() / "allowed-members.json";
    {
        std::ofstream(s.allowed_record) << R"({"version":1,"members":[{"user_id":"x","unix_name":"Not Valid","uid":1}]})";
    }
    ::chmod(s.allowed_record.c_str(), 0600);
    std::vector<std::uint32_t> ended;
    login::Refresher r(w.io, w.source, w.service, &w.publisher, [&](std::uint32_t uid) { ended.push_back(uid); }, s);
    REQUIRE(r.refresh());
    CHECK(ended.empty());
    std::string error;
    auto record = revoke::AllowedRecordFile(s.allowed_record).read(error);
    INFO(error);
    REQUIRE(record);
    CHECK(record->size() == 2);
}

// ---- login socket ----------------------------------------------------------------------------

namespace {

// Runs an io_context on its own thread for the test's duration.
struct IoThread {
    boost::asio::io_context& io;
    std::thread t;
    explicit IoThread(boost::asio::io_context& i) : io(i) {
        io.restart();
        t = std::thread([this] { io.run(); });
    }
    ~IoThread() {
        io.stop();
        t.join();
    }
};

int connect_to(const fs::path& p) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", p.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

// Everything the server sends until it closes (or 5 s).
std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

// In a child as `uid`/`gid`: connects, sends one request, reads until EOF; exit status 0 when
// the reply holds "parameters" without error, 3 when closed without a byte, 2 otherwise.
int request_as(const fs::path& sock, uid_t uid, gid_t gid) {
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(10);
        int fd = connect_to(sock);
        if (fd < 0) ::_exit(11);
        std::string req = std::string(R"({"method":"io.portal.Login.CheckAccount","parameters":{"user":"x","rhost":"","service":"sshd"}})") + '\0';
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) < 0) ::_exit(3);  // already closed
        ::shutdown(fd, SHUT_WR);
        std::string got = read_all(fd);
        if (got.empty()) ::_exit(3);
        ::_exit(got.find("\"parameters\"") != std::string::npos && got.find("\"error\"") == std::string::npos ? 0 : 2);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

}  // namespace

TEST_CASE("login socket: serves the login client, pipelined requests, and bad requests") {
    World w;
    boost::asio::io_context io;
    const fs::path path = w.dir.path() / "login.sock";
    login::LoginSocket sock(io, path, w.service, {std::chrono::milliseconds(400), 8});
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    IoThread run(io);

    ipc::LoginClient client(ipc::ClientOptions{path.string(), 2000ms});
    auto k = client.get_authorized_keys(w.alice.unix_name);
    REQUIRE(k.ok());
    CHECK(k.value.portal_user);
    CHECK(k.value.keys.size() == 2);
    auto c = client.check_account(w.carol.unix_name, "192.0.2.1", "sshd");
    REQUIRE(c.ok());
    CHECK(c.value.reason == "deactivated");

    // Two requests in one write: two replies in order.
    int fd = connect_to(path);
    REQUIRE(fd >= 0);
    std::string two = ipc::encode_message(ipc::request_message(ipc::CheckAccountRequest{w.alice.unix_name, "", "sshd"})) +
                      ipc::encode_message(ipc::request_message(ipc::CheckAccountRequest{w.dave.unix_name, "", "sshd"}));
    REQUIRE(::send(fd, two.data(), two.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(two.size()));
    std::string got;
    char buf[4096];
    while (std::count(got.begin(), got.end(), '\0') < 2) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        REQUIRE(n > 0);
        got.append(buf, static_cast<std::size_t>(n));
    }
    CHECK(got.find("\"allowed\"") < got.find("\"role_not_allowed\""));
    // ...and the idle timeout closes it (400 ms here).
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(read_all(fd).empty());
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    ::close(fd);

    // Over 64 KiB without a NUL: an error, then the connection is closed.
    fd = connect_to(path);
    REQUIRE(fd >= 0);
    std::string big(ipc::kMaxRequestBytes + 10, 'x');
    ::send(fd, big.data(), big.size(), MSG_NOSIGNAL);
    got = read_all(fd);
    CHECK(got.find("io.portal.Login.BadRequest") != std::string::npos);
    ::close(fd);

    // A request in two writes: the first part is read when the connection is accepted, the
    // rest when it comes.
    fd = connect_to(path);
    REQUIRE(fd >= 0);
    const std::string one = ipc::encode_message(ipc::request_message(ipc::CheckAccountRequest{w.alice.unix_name, "", "sshd"}));
    REQUIRE(::send(fd, one.data(), 10, MSG_NOSIGNAL) == 10);
    std::this_thread::sleep_for(50ms);
    REQUIRE(::send(fd, one.data() + 10, one.size() - 10, MSG_NOSIGNAL) == static_cast<ssize_t>(one.size() - 10));
    const auto reply_on = [&](int conn) {
        std::string r;
        while (r.find('\0') == std::string::npos) {
            ssize_t n = ::read(conn, buf, sizeof buf);
            if (n <= 0) break;
            r.append(buf, static_cast<std::size_t>(n));
        }
        return r;
    };
    CHECK(reply_on(fd).find("\"allowed\"") != std::string::npos);
    // The idle timeout counts from the last reply: a connection asking every 150 ms is served
    // for well past 400 ms.
    for (int i = 0; i < 6; ++i) {
        INFO("request " << i);
        REQUIRE(::send(fd, one.data(), one.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(one.size()));
        CHECK(reply_on(fd).find("\"allowed\"") != std::string::npos);
        std::this_thread::sleep_for(150ms);
    }
    CHECK(read_all(fd).empty());  // then idle: closed
    ::close(fd);

    // A peer that vanishes mid-request does not disturb the server.
    fd = connect_to(path);
    REQUIRE(fd >= 0);
    ::send(fd, "{\"method\"", 9, MSG_NOSIGNAL);
    ::close(fd);
    CHECK(client.check_account(w.alice.unix_name, "", "sshd").ok());
}

TEST_CASE("login socket: thousands of pipelined requests from a client that reads late, and the connection limit") {
    World w;
    boost::asio::io_context io;
    const fs::path path = w.dir.path() / "login.sock";
    login::LoginSocket sock(io, path, w.service, {std::chrono::milliseconds(2000), 4});
    IoThread run(io);

    // 3,000 requests in one stream: more replies than the socket buffers hold while the client
    // is still writing, so the server waits for room, and reads in turns. Every reply comes,
    // in order (alice is allowed, dave's role is not).
    int fd = connect_to(path);
    REQUIRE(fd >= 0);
    const std::string alice = ipc::encode_message(ipc::request_message(ipc::CheckAccountRequest{w.alice.unix_name, "", "sshd"}));
    const std::string dave = ipc::encode_message(ipc::request_message(ipc::CheckAccountRequest{w.dave.unix_name, "", "sshd"}));
    constexpr int kRequests = 3000;
    std::thread writer([&] {
        std::string all;
        for (int i = 0; i < kRequests; ++i) all += i % 2 ? dave : alice;
        std::size_t sent = 0;
        while (sent < all.size()) {
            const ssize_t n = ::send(fd, all.data() + sent, all.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) break;
            sent += static_cast<std::size_t>(n);
        }
    });
    std::this_thread::sleep_for(300ms);  // let the replies pile up
    std::string got;
    char buf[65536];
    int replies = 0, in_order = 0;
    while (replies < kRequests) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
        for (std::size_t end; (end = got.find('\0')) != std::string::npos; got.erase(0, end + 1)) {
            const bool want_allowed = replies % 2 == 0;
            if ((got.substr(0, end).find("\"allowed\"") != std::string::npos) == want_allowed) ++in_order;
            ++replies;
        }
    }
    writer.join();
    CHECK(replies == kRequests);
    CHECK(in_order == kRequests);

    // At most 4 connections (this one included): a fifth is closed at once, unanswered.
    std::vector<int> more;
    for (int i = 0; i < 3; ++i) more.push_back(connect_to(path));
    const int fifth = connect_to(path);
    REQUIRE(fifth >= 0);
    ::send(fifth, alice.data(), alice.size(), MSG_NOSIGNAL);
    CHECK(read_all(fifth).empty());
    ::close(fifth);
    for (const int m : more) ::close(m);
    ::close(fd);
    // Closed connections free their places (once the server has seen them close).
    ipc::LoginClient client(ipc::ClientOptions{path.string(), 2000ms});
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!client.check_account(w.alice.unix_name, "", "sshd").ok() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(20ms);
    for (int i = 0; i < 6; ++i) CHECK(client.check_account(w.alice.unix_name, "", "sshd").ok());
}

TEST_CASE("login socket: only root and the helper's uid are served") {
    if (!portal::test::prerequisite(::geteuid() == 0, "needs root (setuid children)")) return;
    World w;
    boost::asio::io_context io;
    const fs::path path = w.dir.path() / "login.sock";
    ::chmod(w.dir.path().c_str(), 0755);
    login::LoginSocket sock(io, path, w.service);
    const gid_t group = 299993;
    REQUIRE(sock.set_access({299992}, group));
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0660);
    CHECK(st.st_gid == group);
    IoThread run(io);

    CHECK(request_as(path, 299992, group) == 0);  // the helper
    CHECK(request_as(path, 299991, group) == 3);  // same group, other uid: closed at once
    CHECK(request_as(path, 299991, 299991) == 11);  // not even the file's group: cannot connect

    REQUIRE(sock.set_access({}, std::nullopt));
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(request_as(path, 299992, group) == 11);
}

TEST_CASE("login socket: a live socket is not taken over, a stale one is replaced") {
    World w;
    boost::asio::io_context io;
    const fs::path path = w.dir.path() / "login.sock";
    {
        login::LoginSocket first(io, path, w.service);
        CHECK_THROWS_AS(login::LoginSocket(io, path, w.service), std::system_error);
    }
    CHECK_FALSE(fs::exists(path));  // removed on destruction
    // A socket file nobody listens on (a crashed daemon's) is replaced.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
    login::LoginSocket again(io, path, w.service);
    CHECK(fs::exists(path));
}

TEST_CASE("login view: 10,000 members x 3 keys, every key found (2,000 under ASan)") {
    // How long this takes is bench/login_view_bench's to measure, not a unit test's.
    TempDir dir;
    auto store = store::Store::open(dir.path() / "portal.db");
    Account account = store->accounts().create("Big");
    store->transaction([&] {
        for (int i = 0; i < portal::test::kScaleMembers; ++i) {
            const std::string email = "user" + std::to_string(i) + "@example.com";
            User u = store->users().create(email, email);
            store->memberships().put(Membership{account.id, u.id, i % 2 ? Role::manager : Role::owner,
                                             MemberStatus::active, "", ""});
            for (int k = 0; k < 3; ++k) store->ssh_keys().insert(make_key(account, u, u.unix_name + " key " + std::to_string(k), k));
        }
    });
    login::ViewSettings settings;
    auto state = login::build_login_state(*store, settings, 0);
    auto clock = [] { return std::chrono::system_clock::now(); };
    tfa::TfaService tfa(*store, SecretBox::load_or_create(dir.path() / "tfa.key"), {}, clock);
    login::LoginService service(*store, tfa, "h", clock);
    const auto shared = std::make_shared<const ipc::LoginState>(std::move(state));
    service.update(shared);
    for (int i = 0; i < portal::test::kScaleMembers / 10; ++i) REQUIRE(service.get_authorized_keys({"user" + std::to_string(i * 7), std::nullopt}).keys.size() == 3);
    const auto& state_ref = *shared;
    CHECK(state_ref.members.size() == static_cast<std::size_t>(portal::test::kScaleMembers));
    std::size_t keys = 0;
    for (const auto& m : state_ref.members) keys += m.keys.size();
    CHECK(keys == static_cast<std::size_t>(3 * portal::test::kScaleMembers));
}

}  // namespace login_service_test
