#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "keyd/userdb/dropin_writer.h"
#include "tests/unit/support/temp_dir.h"

namespace userdb_dropin_test {

using namespace portal;
using namespace portal::userdb;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using TempDir = portal::test::TempDir;

ipc::LoginMember member(std::string name, std::uint32_t uid, MemberStatus status = MemberStatus::active,
                        bool keys = true) {
    ipc::LoginMember m;
    m.unix_name = std::move(name);
    m.uid = uid;
    m.status = status;
    m.published = true;
    if (keys) m.keys = {{"ssh-ed25519 AAAAC3 " + m.unix_name + "@laptop", "SHA256:x"}};
    return m;
}

std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}
void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

std::set<std::string> listing(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
}

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}
ino_t inode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    return st.st_ino;
}

}  // namespace

TEST_CASE("userdb drop-ins: files and modes and links and content", "[userdb]") {
    TempDir tmp;
    UserdbConfig cfg;
    cfg.dropin_directory = tmp.path() / "userdb";  // created by publish
    cfg.service = "io.portal.test";
    ipc::LoginState s;
    s.members = {member("alice", 200001), member("bob", 200002, MemberStatus::active, false),
                 member("dave", 200004, MemberStatus::deactivated), member("carol", 200003, MemberStatus::invited)};
    s.members[3].published = false;

    DropinWriter w(cfg);
    w.publish(s);
    const auto& dir = cfg.dropin_directory;
    CHECK(mode_of(dir) == 0755);
    CHECK(listing(dir) == std::set<std::string>{
                              "alice.user", "200001.user", "alice.group", "200001.group", "alice.user-privileged",
                              "bob.user", "200002.user", "bob.group", "200002.group",
                              "dave.user", "200004.user", "dave.group", "200004.group"});
    CHECK(mode_of(dir / "alice.user") == 0644);
    CHECK(mode_of(dir / "alice.group") == 0644);
    CHECK(mode_of(dir / "alice.user-privileged") == 0600);
    CHECK(fs::is_symlink(dir / "200001.user"));
    CHECK(fs::read_symlink(dir / "200001.user") == "alice.user");
    CHECK(fs::read_symlink(dir / "200001.group") == "alice.group");

    const json alice = json::parse(read(dir / "alice.user"));
    CHECK(alice == json{{"userName", "alice"}, {"uid", 200001}, {"gid", 200001}, {"homeDirectory", "/home/alice"},
                        {"shell", "/bin/bash"}, {"disposition", "regular"}, {"service", "io.portal.test"}});
    CHECK(json::parse(read(dir / "alice.group")) ==
          json{{"groupName", "alice"}, {"gid", 200001}, {"service", "io.portal.test"}});
    const json priv = json::parse(read(dir / "alice.user-privileged"));
    CHECK(priv["privileged"]["sshAuthorizedKeys"] == json{"ssh-ed25519 AAAAC3 alice@laptop"});
    CHECK(priv["service"] == "io.portal.test");
    // Deactivated: locked, and its keys are not published.
    CHECK(json::parse(read(dir / "dave.user"))["locked"] == true);
    CHECK_FALSE(json::parse(read(dir / "alice.user")).contains("locked"));
}

TEST_CASE("userdb drop-ins: only changed files are rewritten and only stale files of ours removed",
          "[userdb]") {
    TempDir tmp;
    UserdbConfig cfg;
    cfg.dropin_directory = tmp.path();
    cfg.service = "io.portal.test";
    const auto& dir = cfg.dropin_directory;
    // Someone else's files, and things that are not records at all.
    write(dir / "zed.user", R"({"userName":"zed","uid":300000,"service":"io.other"})");
    fs::create_symlink("zed.user", dir / "300000.user");
    write(dir / "broken.group", "not json");
    write(dir / "README", "hello");
    write(dir / "nosvc.user", R"({"userName":"nosvc","uid":300001})");
    fs::create_symlink("/etc/passwd", dir / "300002.user");
    fs::create_directory(dir / "sub.group");
    write(dir / ".io.portal.test.tmp.alice.user", "leftover of a crash");
    const auto foreign = listing(dir);

    ipc::LoginState s;
    s.members = {member("alice", 200001), member("bob", 200002)};
    DropinWriter w(cfg);
    w.publish(s);
    CHECK(w.last_changes() == 10);
    CHECK_FALSE(fs::exists(dir / ".io.portal.test.tmp.alice.user"));
    const ino_t alice_ino = inode_of(dir / "alice.user"), bob_ino = inode_of(dir / "bob.user");

    SECTION("the same state again changes nothing") {
        w.publish(s);
        CHECK(w.last_changes() == 0);
        CHECK(inode_of(dir / "alice.user") == alice_ino);
        DropinWriter fresh(cfg);  // a restarted daemon reads the files instead of its cache
        fresh.publish(s);
        CHECK(fresh.last_changes() == 0);
        CHECK(inode_of(dir / "alice.user") == alice_ino);
    }
    SECTION("only the changed member's file is rewritten") {
        s.members[1].status = MemberStatus::deactivated;
        w.publish(s);
        CHECK(inode_of(dir / "alice.user") == alice_ino);
        CHECK(inode_of(dir / "bob.user") != bob_ino);
        CHECK(json::parse(read(dir / "bob.user"))["locked"] == true);
        CHECK_FALSE(fs::exists(dir / "bob.user-privileged"));  // locked: keys withdrawn
        CHECK(w.last_changes() == 2);
    }
    SECTION("a removed or unpublished member's files go, foreign files stay") {
        s.members.pop_back();
        s.members[0].published = false;
        w.publish(s);
        auto now = listing(dir);
        now.erase(".io.portal.test.tmp.alice.user");
        auto expected = foreign;
        expected.erase(".io.portal.test.tmp.alice.user");
        CHECK(now == expected);
        CHECK(read(dir / "zed.user") == R"({"userName":"zed","uid":300000,"service":"io.other"})");
        CHECK(fs::read_symlink(dir / "300000.user") == "zed.user");
    }
    SECTION("a changed uid moves the links") {
        s.members[0].uid = 200011;
        w.publish(s);
        CHECK_FALSE(fs::exists(fs::symlink_status(dir / "200001.user")));
        CHECK_FALSE(fs::exists(fs::symlink_status(dir / "200001.group")));
        CHECK(fs::read_symlink(dir / "200011.user") == "alice.user");
        CHECK(json::parse(read(dir / "alice.group"))["gid"] == 200011);
    }
    SECTION("a file tampered with is restored: content and mode") {
        write(dir / "alice.group", R"({"groupName":"alice","gid":1,"service":"io.portal.test"})");
        ::chmod((dir / "bob.user").c_str(), 0666);
        fs::remove(dir / "200001.user");
        // The writer re-reads the directory when its mtime moved; make sure it did (two
        // changes within one clock tick could share an mtime).
        const timespec old_times[2] = {{1000, 0}, {1000, 0}};
        REQUIRE(::utimensat(AT_FDCWD, dir.c_str(), old_times, 0) == 0);
        w.publish(s);
        CHECK(json::parse(read(dir / "alice.group"))["gid"] == 200001);
        CHECK(mode_of(dir / "bob.user") == 0644);
        CHECK(fs::read_symlink(dir / "200001.user") == "alice.user");
        CHECK(w.last_changes() == 3);
    }
    SECTION("an in-place edit is repaired by a restarted writer") {
        write(dir / "alice.user", R"({"userName":"alice","uid":0,"service":"io.portal.test"})");
        DropinWriter fresh(cfg);
        fresh.publish(s);
        CHECK(json::parse(read(dir / "alice.user"))["uid"] == 200001);
        CHECK(fresh.last_changes() == 1);
    }
    SECTION("files someone else adds later are seen and left alone") {
        write(dir / "bob2.user", R"({"userName":"bob2","uid":200003,"service":"io.other"})");
        const timespec old_times[2] = {{1000, 0}, {1000, 0}};
        REQUIRE(::utimensat(AT_FDCWD, dir.c_str(), old_times, 0) == 0);
        s.members.push_back(member("bob2", 200003));
        w.publish(s);
        CHECK_FALSE(fs::exists(fs::symlink_status(dir / "200003.user")));
        CHECK(json::parse(read(dir / "bob2.user"))["service"] == "io.other");
    }
}

TEST_CASE("userdb drop-ins: a member whose file name is held by someone else is skipped", "[userdb]") {
    TempDir tmp;
    UserdbConfig cfg;
    cfg.dropin_directory = tmp.path();
    cfg.service = "io.portal.test";
    const auto& dir = cfg.dropin_directory;
    write(dir / "zed.user", R"({"userName":"zed","uid":300000,"service":"io.other"})");
    write(dir / "200002.group", R"({"groupName":"other","gid":200002,"service":"io.other"})");
    ipc::LoginState s;
    s.members = {member("zed", 200001), member("bob", 200002), member("ok", 200003)};
    DropinWriter w(cfg);
    w.publish(s);
    CHECK(read(dir / "zed.user") == R"({"userName":"zed","uid":300000,"service":"io.other"})");
    CHECK_FALSE(fs::exists(dir / "200001.user"));
    CHECK_FALSE(fs::exists(dir / "bob.user"));  // the whole member, not half of it
    CHECK(fs::exists(dir / "ok.user"));
    CHECK(fs::exists(dir / "ok.user-privileged"));
}

TEST_CASE("userdb drop-ins: an unusable directory throws", "[userdb]") {
    TempDir tmp;
    UserdbConfig cfg;
    write(tmp.path() / "file", "x");
    cfg.dropin_directory = tmp.path() / "file" / "userdb";
    DropinWriter w(cfg);
    CHECK_THROWS_AS(w.publish(ipc::LoginState{}), std::runtime_error);
    cfg.service = "../evil";
    CHECK_THROWS_AS(DropinWriter(cfg), std::invalid_argument);
}

TEST_CASE("userdb drop-ins: with a change set, only the changed members are written - the rest stay", "[userdb]") {
    TempDir tmp;
    UserdbConfig cfg;
    cfg.dropin_directory = tmp.path() / "userdb";
    cfg.service = "io.portal.test";
    const auto& dir = cfg.dropin_directory;
    ipc::LoginState s;
    s.members = {member("alice", 200001), member("bob", 200002), member("erin", 200005)};
    DropinWriter w(cfg);
    w.publish(s);  // no change set: everything
    const ino_t bob_ino = inode_of(dir / "bob.user");

    // alice's keys change, erin leaves, fred comes: the change set names alice and fred.
    s.members[0].keys = {{"ssh-ed25519 AAAAnew alice@new", "SHA256:new"}};
    s.members.pop_back();
    s.members.push_back(member("fred", 200006));
    const std::unordered_set<std::string> changed{"alice", "fred"};
    w.publish(s, &changed);
    CHECK(json::parse(read(dir / "alice.user-privileged"))["privileged"]["sshAuthorizedKeys"] ==
          json{"ssh-ed25519 AAAAnew alice@new"});
    CHECK(fs::exists(dir / "fred.user"));
    CHECK(fs::read_symlink(dir / "200006.user") == "fred.user");
    CHECK_FALSE(fs::exists(dir / "erin.user"));    // gone although not in the change set
    CHECK_FALSE(fs::exists(dir / "200005.user"));
    // What the change set must not break: an unchanged member's files all stay, its
    // privileged companion included (not taken for stale). (That bob was not rendered again
    // is not visible here: the content would be equal either way.)
    CHECK(inode_of(dir / "bob.user") == bob_ino);
    CHECK(fs::exists(dir / "bob.user-privileged"));
    // alice.user-privileged rewritten; fred: 5 files; erin: 5 removed
    CHECK(w.last_changes() == 11);

    // A file of an unchanged member removed behind our back: the directory changed, so it is
    // re-read and the file comes back even though bob is not in the change set.
    fs::remove(dir / "bob.user");
    const std::unordered_set<std::string> none;
    w.publish(s, &none);
    CHECK(fs::exists(dir / "bob.user"));
    CHECK(json::parse(read(dir / "bob.user"))["userName"] == "bob");
}

TEST_CASE("userdb drop-ins: only resident members get files - the others' are removed - a restart finds them",
          "[userdb]") {
    TempDir tmp;
    UserdbConfig cfg;
    cfg.dropin_directory = tmp.path() / "userdb";
    cfg.service = "io.portal.test";
    ipc::LoginState s;
    s.members = {member("alice", 200001), member("bob", 200002), member("carol", 200003)};
    const auto& dir = cfg.dropin_directory;
    fs::create_directories(dir);
    write(dir / "other.user", R"({"userName":"other","uid":300000,"service":"io.example.other"})");

    DropinWriter w(cfg);
    std::unordered_set<std::string> resident{"bob"};
    w.publish(s, nullptr, &resident);
    CHECK(listing(dir) == std::set<std::string>{"bob.user", "200002.user", "bob.group", "200002.group",
                                                "bob.user-privileged", "other.user"});

    // Carol logs in: her files come, bob's stay as they are (same inode), nobody is re-read.
    const ino_t bob_ino = inode_of(dir / "bob.user");
    resident.insert("carol");
    const std::unordered_set<std::string> none;
    w.publish(s, &none, &resident);
    CHECK(fs::exists(dir / "carol.user"));
    CHECK(fs::is_symlink(dir / "200003.user"));
    CHECK(inode_of(dir / "bob.user") == bob_ino);
    CHECK_FALSE(fs::exists(dir / "alice.user"));

    // Bob ages out: his files go, someone else's stay.
    resident.erase("bob");
    w.publish(s, &none, &resident);
    CHECK(listing(dir) == std::set<std::string>{"carol.user", "200003.user", "carol.group", "200003.group",
                                                "carol.user-privileged", "other.user"});

    // A login marks the drop-in as used: a restart reads that time back.
    const timespec long_ago[2] = {{1'000'000'000, 0}, {1'000'000'000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, (dir / "carol.user").c_str(), long_ago, AT_SYMLINK_NOFOLLOW) == 0);
    w.publish(s, &none, &resident);  // (re-reads nothing: the directory did not change)
    w.mark_used("carol");
    struct stat carol_st {};
    REQUIRE(::stat((dir / "carol.user").c_str(), &carol_st) == 0);
    CHECK(carol_st.st_mtim.tv_sec > 1'000'000'000);

    // A new writer (the daemon restarted) learns who had drop-ins, and only ours.
    DropinWriter again(cfg);
    const auto found = again.our_members();
    REQUIRE(found.size() == 1);
    CHECK(found[0].first == "carol");
    CHECK(found[0].second > std::chrono::system_clock::time_point(std::chrono::seconds(1'000'000'000)));
}

}  // namespace userdb_dropin_test
