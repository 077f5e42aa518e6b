#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/ipc/state_file.h"
#include "shared/ipc/trust.h"
#include "shared/ipc/unique_fd.h"
#include "tests/unit/support/temp_dir.h"

using namespace portal;
using namespace portal::ipc;
namespace fs = std::filesystem;

namespace {

// Non-root test runs trust their own uid as the "root" owner (docs/LOGIN_PROTOCOL.md).
struct TempDir : portal::test::TempDir {
    TempDir() : portal::test::TempDir("login-state") { ::setenv(kTestAllowUidEnv, std::to_string(::getuid()).c_str(), 1); }
};

LoginState sample() {
    LoginState s;
    s.revision = 3;
    s.generated_at = 1764300000;
    s.grace_seconds = 3600;
    s.account_id = "acc_1";
    LoginMember m;
    m.unix_name = "alice";
    m.uid = 200000;
    m.user_id = "usr_1";
    m.role = Role::owner;
    m.keys = {{"ssh-ed25519 AAAA alice@x", "SHA256:a"}};
    s.members.push_back(m);
    return s;
}

void set_mtime(const std::string& path, std::time_t t) {
    timespec times[2] = {{t, 0}, {t, 0}};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

std::string write_sample(const TempDir& dir, mode_t mode = 0640) {
    const std::string path = dir.file("login-state.json");
    std::string error;
    REQUIRE(write_state_file(path, sample(), StateFileMode{mode, {}, {}}, error));
    return path;
}

}  // namespace

TEST_CASE("state_file: write then read", "[login][state_file]") {
    TempDir dir;
    const std::string path = write_sample(dir);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    // Only the file itself: the temp file was renamed, nothing left behind.
    CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);

    std::string error;
    auto loaded = read_state_file(path, error);
    REQUIRE(loaded);
    CHECK(error.empty());
    CHECK_FALSE(loaded->expired);
    CHECK(loaded->age_seconds <= 1);
    CHECK(loaded->state.revision == 3);
    REQUIRE(loaded->state.find("alice"));
    CHECK(loaded->state.find("alice")->keys.size() == 1);
}

TEST_CASE("state_file: rewrite replaces atomically and keeps the mode", "[login][state_file]") {
    TempDir dir;
    const std::string path = write_sample(dir, 0600);
    LoginState s = sample();
    s.revision = 4;
    std::string error;
    REQUIRE(write_state_file(path, s, StateFileMode{0600, ::getuid(), ::getgid()}, error));
    auto loaded = read_state_file(path, error);
    REQUIRE(loaded);
    CHECK(loaded->state.revision == 4);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("state_file: writer reports a missing directory", "[login][state_file]") {
    TempDir dir;
    std::string error;
    CHECK_FALSE(write_state_file(dir.file("no/such/dir/state.json"), sample(), StateFileMode{}, error));
    CHECK_FALSE(error.empty());
}

TEST_CASE("state_file: expiry from mtime and grace", "[login][state_file]") {
    TempDir dir;
    const std::string path = write_sample(dir);
    const std::time_t now = std::time(nullptr);
    std::string error;

    set_mtime(path, now - 3600);
    auto loaded = read_state_file(path, error, now);
    REQUIRE(loaded);
    CHECK_FALSE(loaded->expired);  // exactly the grace: still good
    CHECK(loaded->age_seconds == 3600);

    set_mtime(path, now - 3601);
    loaded = read_state_file(path, error, now);
    REQUIRE(loaded);
    CHECK(loaded->expired);

    set_mtime(path, now + 600);  // clock skew: never negative
    loaded = read_state_file(path, error, now);
    REQUIRE(loaded);
    CHECK(loaded->age_seconds == 0);
    CHECK_FALSE(loaded->expired);

    set_mtime(path, now - 10000);
    REQUIRE(touch_state_file(path, error));
    loaded = read_state_file(path, error);
    REQUIRE(loaded);
    CHECK_FALSE(loaded->expired);
}

TEST_CASE("state_file: refuses group- or other-writable files", "[login][state_file]") {
    TempDir dir;
    const std::string path = write_sample(dir);
    std::string error;
    for (mode_t mode : {0660, 0602, 0666, 0620}) {
        REQUIRE(::chmod(path.c_str(), mode) == 0);
        CHECK_FALSE(read_state_file(path, error));
        CHECK(error == path + ": writable by group or others");
    }
    REQUIRE(::chmod(path.c_str(), 0644) == 0);  // readable by others is fine
    CHECK(read_state_file(path, error));
}

TEST_CASE("state_file: refuses a file not owned by root", "[login][state_file]") {
    TempDir dir;
    const std::string path = write_sample(dir);
    if (::geteuid() == 0) {
        REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
    } else {
        ::unsetenv(kTestAllowUidEnv);  // our own uid is no longer trusted
    }
    std::string error;
    CHECK_FALSE(read_state_file(path, error));
    CHECK(error == path + ": not owned by root");
}

TEST_CASE("state_file: refuses symlinks, FIFOs, directories and missing files", "[login][state_file]") {
    TempDir dir;
    const std::string path = write_sample(dir);
    std::string error;

    const std::string link = dir.file("link.json");
    REQUIRE(::symlink(path.c_str(), link.c_str()) == 0);
    CHECK_FALSE(read_state_file(link, error));

    const std::string fifo = dir.file("fifo.json");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_FALSE(read_state_file(fifo, error));  // must not hang waiting for a writer
    CHECK(error == fifo + ": not a regular file");

    CHECK_FALSE(read_state_file(dir.path().string(), error));
    CHECK(error == dir.path().string() + ": not a regular file");

    CHECK_FALSE(read_state_file(dir.file("missing.json"), error));
    CHECK(error.find("No such file") != std::string::npos);
}

TEST_CASE("state_file: refuses oversize, garbage and unknown versions", "[login][state_file]") {
    TempDir dir;
    std::string error;
    const std::string big = dir.file("big.json");
    {
        UniqueFd fd(::open(big.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        REQUIRE(fd);
        REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(kMaxStateFileBytes) + 1) == 0);  // sparse
    }
    CHECK_FALSE(read_state_file(big, error));
    CHECK(error == big + ": too large");

    auto write_raw = [&](const char* name, std::string_view text) {
        const std::string p = dir.file(name);
        UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        REQUIRE(fd);
        REQUIRE(::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        return p;
    };
    const std::string garbage = write_raw("garbage.json", "{\"version\": 1, ");
    CHECK_FALSE(read_state_file(garbage, error));
    CHECK(error == garbage + ": not valid JSON");

    std::string v2 = to_json(sample());
    v2.replace(v2.find("\"version\":1"), 11, "\"version\":2");
    const std::string future = write_raw("v2.json", v2);
    CHECK_FALSE(read_state_file(future, error));
    CHECK(error == future + ": version: unsupported version 2");
}
