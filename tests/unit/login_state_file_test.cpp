// The fallback state directory (shared/ipc/state_dir.h) as the login path reads it, and the
// atomic file writes under it (shared/ipc/state_file.h). The daemon's incremental writing is
// tested with the refresher (login_service_test.cpp).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/ipc/state_dir.h"
#include "shared/ipc/state_file.h"
#include "shared/ipc/trust.h"
#include "shared/ipc/unique_fd.h"
#include "tests/unit/support/temp_dir.h"

namespace login_state_file_test {

using namespace portal;
using namespace portal::ipc;
namespace fs = std::filesystem;

namespace {

// Non-root test runs trust their own uid as the "root" owner (docs/LOGIN_PROTOCOL.md).
struct TempDir : portal::test::TempDir {
    TempDir() : portal::test::TempDir("login-state") { ::setenv(kTestAllowUidEnv, std::to_string(::getuid()).c_str(), 1); }
    std::string state() const { return file("state"); }
    std::string entry(std::string_view name) const { return state() + "/" + std::string(name); }
    std::string header() const { return entry(kStateHeaderName); }
};

LoginMember member(const char* name, std::uint32_t uid) {
    LoginMember m;
    m.unix_name = name;
    m.uid = uid;
    m.user_id = std::string("usr_") + name;
    m.role = Role::owner;
    m.keys = {{std::string("ssh-ed25519 AAAA ") + name + "@x", std::string("SHA256:") + name}};
    return m;
}

LoginState sample() {
    LoginState s;
    s.revision = 3;
    s.generated_at = 1764300000;
    s.grace_seconds = 3600;
    s.account_id = "acc_1";
    s.login_roles = {Role::owner};
    s.members = {member("alice", 200000), member("bob", 200001)};
    return s;
}

void set_mtime(const std::string& path, std::time_t t) {
    timespec times[2] = {{t, 0}, {t, 0}};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

void write_sample(const TempDir& dir, const LoginState& s = sample()) {
    std::string error;
    INFO(error);
    REQUIRE(write_whole_state_dir(dir.state(), s, StateFileMode{0640, {}, {}}, StateFileMode{0750, {}, {}}, error));
}

void write_raw(const std::string& path, std::string_view text, mode_t mode = 0640) {
    ::unlink(path.c_str());
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    REQUIRE(fd);
    REQUIRE(::fchmod(fd.get(), mode) == 0);
    REQUIRE(::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
}

std::optional<LoadedState> read(const TempDir& dir, std::string_view user, std::string& error,
                                std::time_t now = std::time(nullptr)) {
    return read_state_dir(dir.state(), user, error, now);
}

}  // namespace

TEST_CASE("state_dir: write then read one member", "[login][state_file]") {
    TempDir dir;
    write_sample(dir);
    struct stat st {};
    REQUIRE(::stat(dir.state().c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
    REQUIRE(::stat(dir.entry("alice").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    // The header and one file per member; no temp file left behind.
    CHECK(std::distance(fs::directory_iterator(dir.state()), fs::directory_iterator()) == 3);

    std::string error;
    auto loaded = read(dir, "alice", error);
    INFO(error);
    REQUIRE(loaded);
    CHECK_FALSE(loaded->expired);
    CHECK(loaded->age_seconds <= 1);
    CHECK(loaded->state.revision == 3);
    CHECK(loaded->state.account_id == "acc_1");
    CHECK(loaded->state.generated_at == 1764300000);
    CHECK(loaded->state.login_roles == std::vector<Role>{Role::owner});
    REQUIRE(loaded->state.members.size() == 1);  // only the member asked for
    CHECK(loaded->state.members[0] == sample().members[0]);

    loaded = read(dir, "bob", error);
    REQUIRE(loaded);
    REQUIRE(loaded->state.members.size() == 1);
    CHECK(loaded->state.members[0] == sample().members[1]);
}

TEST_CASE("state_dir: entries carry the account and the revision they were written at", "[login][state_file]") {
    TempDir dir;
    write_sample(dir);
    std::string error;
    auto entry = read_member_entry(dir.state(), "alice", error);
    REQUIRE(entry);
    CHECK(entry->account_id == "acc_1");
    CHECK(entry->revision == 3);
    CHECK(entry->member == sample().members[0]);
    auto back = member_entry_from_json(member_entry_to_json(*entry), error);
    REQUIRE(back);
    CHECK(back->member == entry->member);
    CHECK(back->revision == 3);
}

TEST_CASE("state_dir: a user without an entry is not a member - a name that cannot be one never becomes a path",
          "[login][state_file]") {
    TempDir dir;
    write_sample(dir);
    // A readable file outside the directory that a traversal would reach.
    write_raw(dir.file("carol"), member_entry_to_json(MemberEntry{"acc_1", 3, member("carol", 200002)}));
    std::string error;
    for (std::string_view user : {"carol", "../carol", "..", ".", "", "account.json", "alice/../bob", "ALICE",
                                  "alice.XXXXXX", "/etc/passwd", "12345"}) {
        INFO(user);
        auto loaded = read(dir, user, error);
        INFO(error);
        REQUIRE(loaded);
        CHECK(loaded->state.members.empty());
    }
}

TEST_CASE("state_dir: rewrite replaces atomically and keeps the modes", "[login][state_file]") {
    TempDir dir;
    write_sample(dir);
    LoginState s = sample();
    s.revision = 4;
    s.members.pop_back();  // bob leaves
    std::string error;
    REQUIRE(write_whole_state_dir(dir.state(), s, StateFileMode{0600, ::getuid(), ::getgid()},
                                  StateFileMode{0700, ::getuid(), ::getgid()}, error));
    auto loaded = read(dir, "alice", error);
    REQUIRE(loaded);
    CHECK(loaded->state.revision == 4);
    CHECK_FALSE(fs::exists(dir.entry("bob")));
    struct stat st {};
    REQUIRE(::stat(dir.entry("alice").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    REQUIRE(::stat(dir.state().c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
}

TEST_CASE("state_dir: writer reports a missing parent", "[login][state_file]") {
    TempDir dir;
    std::string error;
    CHECK_FALSE(write_whole_state_dir(dir.file("no/such/dir"), sample(), StateFileMode{}, StateFileMode{0700, {}, {}},
                                      error));
    CHECK_FALSE(error.empty());
}

TEST_CASE("state_dir: expiry from the header's mtime and grace", "[login][state_file]") {
    TempDir dir;
    write_sample(dir);
    const std::time_t now = std::time(nullptr);
    std::string error;
    // Entries keep the time they were written; only the header's stamp counts.
    set_mtime(dir.entry("alice"), now - 100000);

    set_mtime(dir.header(), now - 3600);
    auto loaded = read(dir, "alice", error, now);
    REQUIRE(loaded);
    CHECK_FALSE(loaded->expired);  // exactly the grace: still good
    CHECK(loaded->age_seconds == 3600);

    set_mtime(dir.header(), now - 3601);
    loaded = read(dir, "alice", error, now);
    REQUIRE(loaded);
    CHECK(loaded->expired);
    CHECK(loaded->state.members.size() == 1);  // still returned: the caller says state_expired

    set_mtime(dir.header(), now + 600);  // clock skew: never negative
    loaded = read(dir, "alice", error, now);
    REQUIRE(loaded);
    CHECK(loaded->age_seconds == 0);
    CHECK_FALSE(loaded->expired);

    set_mtime(dir.header(), now - 10000);
    REQUIRE(touch_state_header(dir.state(), error));
    loaded = read(dir, "alice", error);
    REQUIRE(loaded);
    CHECK_FALSE(loaded->expired);
}

TEST_CASE("state_dir: refuses group- or other-writable files and directories", "[login][state_file]") {
    TempDir dir;
    write_sample(dir);
    std::string error;
    for (const std::string& path : {dir.entry("alice"), dir.header(), dir.state()}) {
        INFO(path);
        const mode_t good = path == dir.state() ? 0750 : 0640;
        for (mode_t mode : {0660, 0602, 0666, 0620}) {
            REQUIRE(::chmod(path.c_str(), path == dir.state() ? (mode | 0111) : mode) == 0);
            CHECK_FALSE(read(dir, "alice", error));
            CHECK(error == path + ": writable by group or others");
        }
        REQUIRE(::chmod(path.c_str(), good | 0004) == 0);  // readable by others is fine
        CHECK(read(dir, "alice", error));
        REQUIRE(::chmod(path.c_str(), good) == 0);
    }
}

TEST_CASE("state_dir: refuses files and a directory not owned by root", "[login][state_file]") {
    TempDir dir;
    write_sample(dir);
    std::string error;
    if (::geteuid() != 0) {
        ::unsetenv(kTestAllowUidEnv);  // our own uid is no longer trusted
        CHECK_FALSE(read(dir, "alice", error));
        CHECK(error == dir.state() + ": not owned by root");
        return;
    }
    for (const std::string& path : {dir.entry("alice"), dir.header(), dir.state()}) {
        INFO(path);
        REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
        CHECK_FALSE(read(dir, "alice", error));
        CHECK(error == path + ": not owned by root");
        REQUIRE(::chown(path.c_str(), 0, 0) == 0);
        CHECK(read(dir, "alice", error));
    }
}

TEST_CASE("state_dir: refuses symlinks and FIFOs, never follows or waits", "[login][state_file]") {
    TempDir dir;
    write_sample(dir);
    std::string error;

    // A member's entry as a symlink to another (trusted) entry.
    REQUIRE(::rename(dir.entry("bob").c_str(), dir.file("bob-elsewhere").c_str()) == 0);
    REQUIRE(::symlink(dir.file("bob-elsewhere").c_str(), dir.entry("bob").c_str()) == 0);
    CHECK_FALSE(read(dir, "bob", error));
    CHECK_THAT(error, Catch::Contains(dir.entry("bob")));

    // A FIFO in a member's place: must not hang waiting for a writer.
    REQUIRE(::unlink(dir.entry("bob").c_str()) == 0);
    REQUIRE(::mkfifo(dir.entry("bob").c_str(), 0600) == 0);
    CHECK_FALSE(read(dir, "bob", error));
    CHECK(error == dir.entry("bob") + ": not a regular file");

    // A directory in a member's place.
    REQUIRE(::unlink(dir.entry("bob").c_str()) == 0);
    REQUIRE(::mkdir(dir.entry("bob").c_str(), 0700) == 0);
    CHECK_FALSE(read(dir, "bob", error));

    // The header as a symlink.
    REQUIRE(::rename(dir.header().c_str(), dir.file("header-elsewhere").c_str()) == 0);
    REQUIRE(::symlink(dir.file("header-elsewhere").c_str(), dir.header().c_str()) == 0);
    CHECK_FALSE(read(dir, "alice", error));

    // The directory itself as a symlink.
    const std::string link = dir.file("state-link");
    REQUIRE(::symlink(dir.state().c_str(), link.c_str()) == 0);
    CHECK_FALSE(read_state_dir(link, "alice", error));

    // No directory, no header: no state (the caller cannot tell a member from a local user).
    CHECK_FALSE(read_state_dir(dir.file("missing"), "alice", error));
    CHECK_THAT(error, Catch::Contains("No such file"));
    REQUIRE(::unlink(dir.header().c_str()) == 0);
    CHECK_FALSE(read(dir, "alice", error));
    CHECK_THAT(error, Catch::Contains("No such file"));
}

TEST_CASE("state_dir: refuses oversize, garbage and unknown versions", "[login][state_file]") {
    TempDir dir;
    write_sample(dir);
    std::string error;
    {
        UniqueFd fd(::open(dir.entry("bob").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
        REQUIRE(fd);
        REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(kMaxMemberEntryBytes) + 1) == 0);  // sparse
    }
    CHECK_FALSE(read(dir, "bob", error));
    CHECK(error == dir.entry("bob") + ": too large");
    CHECK(read(dir, "alice", error));  // one bad entry: only that member is in doubt

    write_raw(dir.entry("bob"), "{\"version\": 2, ");
    CHECK_FALSE(read(dir, "bob", error));
    CHECK(error == dir.entry("bob") + ": not valid JSON");

    // An entry of another layout version (e.g. written by an older daemon) is stale.
    std::string v3 = member_entry_to_json(MemberEntry{"acc_1", 3, member("bob", 200001)});
    v3.replace(v3.find("\"version\":2"), 11, "\"version\":3");
    write_raw(dir.entry("bob"), v3);
    CHECK_FALSE(read(dir, "bob", error));
    CHECK(error == dir.entry("bob") + ": version: unsupported version 3");

    // A header of the single-file layout (version 1, with members) is refused.
    write_raw(dir.header(), to_json(sample()));
    CHECK_FALSE(read(dir, "alice", error));
    CHECK(error == dir.header() + ": version: unsupported version 1");

    UniqueFd fd(::open(dir.header().c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    REQUIRE(fd);
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(kMaxStateHeaderBytes) + 1) == 0);
    CHECK_FALSE(read(dir, "alice", error));
    CHECK(error == dir.header() + ": too large");
}

TEST_CASE("state_dir: an entry for another account, or under another member's name, is stale",
          "[login][state_file]") {
    TempDir dir;
    write_sample(dir);
    std::string error;
    write_raw(dir.entry("bob"), member_entry_to_json(MemberEntry{"acc_2", 3, member("bob", 200001)}));
    CHECK_FALSE(read(dir, "bob", error));
    CHECK(error == dir.entry("bob") + ": account_id: written for another account");

    // alice's (valid, trusted) entry copied to bob's name must not let alice's keys in as bob.
    write_raw(dir.entry("bob"), member_entry_to_json(MemberEntry{"acc_1", 3, member("alice", 200000)}));
    CHECK_FALSE(read(dir, "bob", error));
    CHECK(error == dir.entry("bob") + ": member.unix_name: names another member");
}

TEST_CASE("state_dir: strict entry and header parsing names the field", "[login][state_file]") {
    std::string error;
    CHECK_FALSE(member_entry_from_json(R"({"version":2,"account_id":"a","revision":1})", error));
    CHECK(error == "member: missing");
    CHECK_FALSE(member_entry_from_json(R"({"version":2,"account_id":"a","revision":1,"member":{}})", error));
    CHECK(error == "member.unix_name: missing");
    std::string extra = member_entry_to_json(MemberEntry{"a", 1, member("bob", 1)});
    extra.insert(1, "\"written_by\":\"me\",");
    CHECK_FALSE(member_entry_from_json(extra, error));
    CHECK_THAT(error, Catch::Contains("written_by"));
    CHECK_FALSE(member_entry_from_json(R"({"version":2,"account_id":"a","revision":-1,"member":{}})", error));
    CHECK_THAT(error, Catch::StartsWith("revision"));

    LoginState s = sample();
    auto header = header_from_json(header_to_json(s), error);
    REQUIRE(header);
    CHECK(header->members.empty());
    CHECK(header->revision == 3);
    std::string with_members = header_to_json(s);
    with_members.insert(1, "\"members\":[],");
    CHECK_FALSE(header_from_json(with_members, error));
    CHECK_THAT(error, Catch::Contains("members"));
    CHECK_FALSE(header_from_json(R"({"version":2})", error));
    CHECK(error == "revision: missing");
}

TEST_CASE("state_file: a private file is read whole only when nobody else can change it", "[login][state_file]") {
    portal::test::TempDir dir("private-file");
    const std::string path = (dir.path() / "record").string();
    {
        UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        REQUIRE(out);
        REQUIRE(::write(out.get(), "abc\n", 4) == 4);
    }
    const auto read = [&](std::size_t max_bytes, mode_t forbidden, std::string& error) {
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        REQUIRE(fd);
        return read_private_file(fd.get(), path, max_bytes, forbidden, error);
    };
    std::string error;
    CHECK(read(4, S_IWGRP | S_IWOTH, error) == std::optional<std::string>("abc\n"));
    CHECK(error.empty());
    CHECK_FALSE(read(3, S_IWGRP | S_IWOTH, error));
    CHECK(error == path + ": too large");
    REQUIRE(::chmod(path.c_str(), 0620) == 0);
    CHECK_FALSE(read(4, S_IWGRP | S_IWOTH, error));
    CHECK(error == path + ": writable by group or others");
    REQUIRE(::chmod(path.c_str(), 0640) == 0);
    CHECK(read(4, S_IWGRP | S_IWOTH, error));
    CHECK_FALSE(read(4, 077, error));  // a secret file: not even readable by others
    CHECK(error == path + ": readable or writable by others");
    UniqueFd directory(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(directory);
    CHECK_FALSE(read_private_file(directory.get(), dir.path().string(), 4, 077, error));
    CHECK(error == dir.path().string() + ": not a regular file");
}

}  // namespace login_state_file_test
