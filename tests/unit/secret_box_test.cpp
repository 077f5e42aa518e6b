#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "keyd/tfa/secret_box.h"
#include "shared/random.h"
#include "tests/unit/support/prerequisite.h"

namespace secret_box_test {

namespace fs = std::filesystem;
using portal::SecretBox;

namespace {

// A fresh private directory per test case under the build tree.
fs::path temp_dir() {
    fs::path dir = fs::path(PORTAL_TEST_TMP) / ("secret_box-" + portal::random_id(""));
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all);
    return dir;
}

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

void write_file(const fs::path& p, std::size_t size, fs::perms mode) {
    {
        std::ofstream f(p, std::ios::binary);
        f << std::string(size, 'k');
    }
    fs::permissions(p, mode);
}

// Decodes the base64 body of a sealed string (test-side, independent of the code under test).
std::string decode_body(const std::string& sealed) {
    static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : sealed.substr(3)) {
        if (c == '=') break;
        acc = (acc << 6) | static_cast<std::uint32_t>(kAlphabet.find(c));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

}  // namespace

TEST_CASE("secret_box: round trip", "[secret_box]") {
    const fs::path dir = temp_dir();
    const auto box = SecretBox::load_or_create(dir / "key");
    const auto secret = bytes("JBSWY3DPEHPK3PXP-totp-secret");

    const std::string sealed = box.seal(secret, "usr_alice");
    REQUIRE(sealed.starts_with("v1:"));
    const auto opened = box.open(sealed, "usr_alice");
    REQUIRE(opened);
    CHECK(*opened == secret);

    // Fresh nonce every time: sealing twice gives different ciphertexts.
    CHECK(box.seal(secret, "usr_alice") != sealed);

    // Empty plaintext works too.
    const auto empty = box.open(box.seal({}, "ctx"), "ctx");
    REQUIRE(empty);
    CHECK(empty->empty());

    // A second load of the same file gets the same key.
    const auto again = SecretBox::load_or_create(dir / "key");
    const auto reopened = again.open(sealed, "usr_alice");
    REQUIRE(reopened);
    CHECK(*reopened == secret);

    // A box with another key cannot open it.
    const auto other = SecretBox::load_or_create(dir / "other-key");
    CHECK_FALSE(other.open(sealed, "usr_alice"));
    fs::remove_all(dir);
}

TEST_CASE("secret_box: wrong context fails", "[secret_box]") {
    const fs::path dir = temp_dir();
    const auto box = SecretBox::load_or_create(dir / "key");
    const std::string sealed = box.seal(bytes("secret"), "usr_alice");
    CHECK_FALSE(box.open(sealed, "usr_bob"));
    CHECK_FALSE(box.open(sealed, ""));
    CHECK_FALSE(box.open(sealed, "usr_alice "));
    CHECK(box.open(sealed, "usr_alice"));
    fs::remove_all(dir);
}

TEST_CASE("secret_box: tampering fails", "[secret_box]") {
    const fs::path dir = temp_dir();
    const auto box = SecretBox::load_or_create(dir / "key");
    const std::string sealed = box.seal(bytes("a secret of some length"), "ctx");

    // Change every character of the base64 body in turn: none may open.
    for (std::size_t i = 3; i < sealed.size(); ++i) {
        std::string t = sealed;
        t[i] = t[i] == 'A' ? 'B' : 'A';
        INFO("position " << i);
        CHECK_FALSE(box.open(t, "ctx"));
    }
    CHECK_FALSE(box.open(sealed.substr(0, sealed.size() - 4), "ctx"));  // truncated
    CHECK_FALSE(box.open("v2" + sealed.substr(2), "ctx"));
    CHECK_FALSE(box.open("", "ctx"));
    CHECK_FALSE(box.open("v1:", "ctx"));
    CHECK_FALSE(box.open("v1:not base64!", "ctx"));
    CHECK_FALSE(box.open("v1:AAAA", "ctx"));
    CHECK_FALSE(box.open(sealed + " ", "ctx"));
    fs::remove_all(dir);
}

TEST_CASE("secret_box: ciphertext does not contain the plaintext", "[secret_box]") {
    const fs::path dir = temp_dir();
    const auto box = SecretBox::load_or_create(dir / "key");
    const std::string plain = "PLAINTEXT-PLAINTEXT-PLAINTEXT";
    const std::string sealed = box.seal(bytes(plain), "ctx");
    CHECK(sealed.find(plain) == std::string::npos);
    CHECK(sealed.find("PLAINTEXT") == std::string::npos);
    const std::string body = decode_body(sealed);
    CHECK(body.size() == 12 + plain.size() + 16);
    CHECK(body.find("PLAINTEXT") == std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("secret_box: key file is created 0600 with 32 bytes", "[secret_box]") {
    const fs::path dir = temp_dir();
    const fs::path key = dir / "key";
    const mode_t old_umask = ::umask(0);  // the mode must not depend on a lax umask
    (void)SecretBox::load_or_create(key);
    ::umask(old_umask);

    struct stat st {};
    REQUIRE(::lstat(key.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_size == 32);
    CHECK(st.st_uid == ::geteuid());
    // No temporary files left behind.
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
    fs::remove_all(dir);
}

TEST_CASE("secret_box: refuses unsafe key files", "[secret_box]") {
    const fs::path dir = temp_dir();
    const fs::path key = dir / "key";

    SECTION("group/world readable") {
        write_file(key, 32, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                fs::perms::others_read);  // 0644
        REQUIRE_THROWS_WITH(SecretBox::load_or_create(key),
                            Catch::Contains(key.string()) && Catch::Contains("0644"));
    }
    SECTION("group writable") {
        write_file(key, 32, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_write);
        REQUIRE_THROWS_AS(SecretBox::load_or_create(key), std::runtime_error);
    }
    SECTION("symlink to a good key") {
        (void)SecretBox::load_or_create(dir / "real");
        fs::create_symlink(dir / "real", key);
        REQUIRE_THROWS_WITH(SecretBox::load_or_create(key), Catch::Contains("symbolic link"));
    }
    SECTION("dangling symlink is not followed to create a file") {
        fs::create_symlink(dir / "target", key);
        REQUIRE_THROWS_AS(SecretBox::load_or_create(key), std::runtime_error);
        CHECK_FALSE(fs::exists(dir / "target"));
    }
    SECTION("wrong size") {
        write_file(key, 31, fs::perms::owner_read | fs::perms::owner_write);
        REQUIRE_THROWS_WITH(SecretBox::load_or_create(key), Catch::Contains("31 bytes"));
        write_file(key, 33, fs::perms::owner_read | fs::perms::owner_write);
        REQUIRE_THROWS_WITH(SecretBox::load_or_create(key), Catch::Contains("33 bytes"));
        write_file(key, 0, fs::perms::owner_read | fs::perms::owner_write);
        REQUIRE_THROWS_AS(SecretBox::load_or_create(key), std::runtime_error);
    }
    SECTION("not a regular file") {
        fs::create_directory(key);
        REQUIRE_THROWS_WITH(SecretBox::load_or_create(key), Catch::Contains("not a regular file"));
    }
    SECTION("a FIFO does not hang") {
        REQUIRE(::mkfifo(key.c_str(), 0600) == 0);
        REQUIRE_THROWS_WITH(SecretBox::load_or_create(key), Catch::Contains("not a regular file"));
    }
    SECTION("owned by another user") {
        if (!portal::test::prerequisite(::geteuid() == 0, "needs root to chown: ownership check not exercised")) return;
        write_file(key, 32, fs::perms::owner_read | fs::perms::owner_write);
        REQUIRE(::chown(key.c_str(), 65534, 65534) == 0);
        REQUIRE_THROWS_WITH(SecretBox::load_or_create(key), Catch::Contains("owned by uid 65534"));
    }
    SECTION("missing directory") {
        REQUIRE_THROWS_AS(SecretBox::load_or_create(dir / "nope" / "key"), std::runtime_error);
    }
    fs::remove_all(dir);
}

TEST_CASE("secret_box: moved-from box refuses to work", "[secret_box]") {
    const fs::path dir = temp_dir();
    auto box = SecretBox::load_or_create(dir / "key");
    const std::string sealed = box.seal(bytes("x"), "ctx");
    SecretBox moved = std::move(box);
    CHECK(moved.open(sealed, "ctx"));
    CHECK_THROWS_AS(box.seal(bytes("x"), "ctx"), std::logic_error);  // NOLINT(bugprone-use-after-move)
    fs::remove_all(dir);
}

}  // namespace secret_box_test
