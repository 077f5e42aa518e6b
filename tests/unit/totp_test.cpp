#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/base32.h"
#include "shared/totp.h"
#include "tests/unit/support/prerequisite.h"

namespace totp_test {

using portal::TotpAlgorithm;
using portal::TotpParams;

namespace {

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

const std::vector<std::uint8_t> kSeed20 = bytes_of("12345678901234567890");
const std::vector<std::uint8_t> kSeed32 = bytes_of("12345678901234567890123456789012");
const std::vector<std::uint8_t> kSeed64 =
    bytes_of("1234567890123456789012345678901234567890123456789012345678901234");

const TotpParams kDefault{};  // SHA1, 6 digits, 30 s
constexpr std::int64_t kNow = 1111111111;  // step 37037037 with a 30 s period
constexpr std::int64_t kNowStep = kNow / 30;

}  // namespace

TEST_CASE("totp: RFC 6238 appendix B vectors, each hash with its own seed", "[totp]") {
    struct Vector {
        std::int64_t time;
        const char* sha1;
        const char* sha256;
        const char* sha512;
    };
    const Vector vectors[] = {
        {59, "94287082", "46119246", "90693936"},
        {1111111109, "07081804", "68084774", "25091201"},
        {1111111111, "14050471", "67062674", "99943326"},
        {1234567890, "89005924", "91819424", "93441116"},
        {2000000000, "69279037", "90698825", "38618901"},
        {20000000000, "65353130", "77737706", "47863826"},
    };
    REQUIRE(kSeed64.size() == 64);
    for (const auto& v : vectors) {
        CAPTURE(v.time);
        CHECK(portal::totp_code(kSeed20, v.time, {TotpAlgorithm::sha1, 8, 30}) == v.sha1);
        CHECK(portal::totp_code(kSeed32, v.time, {TotpAlgorithm::sha256, 8, 30}) == v.sha256);
        CHECK(portal::totp_code(kSeed64, v.time, {TotpAlgorithm::sha512, 8, 30}) == v.sha512);
    }
    // The classic test bug: the 20-byte seed with SHA256 gives a different code.
    CHECK(portal::totp_code(kSeed20, 59, {TotpAlgorithm::sha256, 8, 30}) == "32247374");
}

TEST_CASE("totp: RFC 4226 appendix D HOTP vectors", "[totp]") {
    const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                              "254676", "287922", "162583", "399871", "520489"};
    for (std::uint64_t counter = 0; counter < 10; ++counter) {
        CAPTURE(counter);
        CHECK(portal::hotp_code(kSeed20, counter, kDefault) == expected[counter]);
    }
}

TEST_CASE("totp: codes are zero-padded to the requested digits", "[totp]") {
    // 1111111109 gives 07081804 with 8 digits: the leading zero must survive.
    CHECK(portal::totp_code(kSeed20, 1111111109, {TotpAlgorithm::sha1, 8, 30}) == "07081804");
    CHECK(portal::totp_code(kSeed20, 1111111109, {TotpAlgorithm::sha1, 7, 30}) == "7081804");
    CHECK(portal::totp_code(kSeed20, 1111111109, {TotpAlgorithm::sha1, 6, 30}) == "081804");
}

TEST_CASE("totp: validate accepts 6..8 digits and 30/60 s periods only", "[totp]") {
    for (int digits : {6, 7, 8}) {
        for (int period : {30, 60}) CHECK_NOTHROW(portal::validate({TotpAlgorithm::sha256, digits, period}));
    }
    for (int digits : {-1, 0, 5, 9, 10}) {
        CHECK_THROWS_AS(portal::validate({TotpAlgorithm::sha1, digits, 30}), std::invalid_argument);
    }
    for (int period : {-30, 0, 1, 15, 29, 31, 45, 90}) {
        CHECK_THROWS_AS(portal::validate({TotpAlgorithm::sha1, 6, period}), std::invalid_argument);
    }
    CHECK_THROWS_AS(portal::validate({static_cast<TotpAlgorithm>(42), 6, 30}), std::invalid_argument);
    CHECK_THROWS_AS(portal::totp_code(kSeed20, 59, {TotpAlgorithm::sha1, 9, 30}), std::invalid_argument);
    CHECK_THROWS_AS(portal::hotp_code(kSeed20, 0, {TotpAlgorithm::sha1, 6, 10}), std::invalid_argument);
    CHECK_THROWS_AS(portal::totp_verify(kSeed20, "123456", kNow, -1, {TotpAlgorithm::sha1, 5, 30}),
                    std::invalid_argument);
    CHECK_THROWS_AS(portal::totp_code(kSeed20, -1, kDefault), std::invalid_argument);
}

TEST_CASE("totp: to_string spells algorithms as otpauth does", "[totp]") {
    CHECK(portal::to_string(TotpAlgorithm::sha1) == "SHA1");
    CHECK(portal::to_string(TotpAlgorithm::sha256) == "SHA256");
    CHECK(portal::to_string(TotpAlgorithm::sha512) == "SHA512");
}

TEST_CASE("totp: verify accepts the window of one step either side", "[totp]") {
    for (int offset : {-1, 0, 1}) {
        CAPTURE(offset);
        std::string code = portal::totp_code(kSeed20, kNow + offset * 30, kDefault);
        auto check = portal::totp_verify(kSeed20, code, kNow, -1, kDefault);
        CHECK(check.ok);
        CHECK(check.step == kNowStep + offset);
    }
    // Edges of the current step still count as "now".
    std::string code = portal::totp_code(kSeed20, kNowStep * 30, kDefault);
    CHECK(portal::totp_verify(kSeed20, code, kNowStep * 30 + 29, -1, kDefault).step == kNowStep);
}

TEST_CASE("totp: verify rejects two steps away", "[totp]") {
    for (int offset : {-3, -2, 2, 3}) {
        CAPTURE(offset);
        std::string code = portal::totp_code(kSeed20, kNow + offset * 30, kDefault);
        // Make sure the test is not fooled by a collision with an in-window code.
        for (int in_window : {-1, 0, 1}) REQUIRE(code != portal::totp_code(kSeed20, kNow + in_window * 30, kDefault));
        auto check = portal::totp_verify(kSeed20, code, kNow, -1, kDefault);
        CHECK_FALSE(check.ok);
        CHECK(check.step == -1);
    }
}

TEST_CASE("totp: verify rejects a wrong code and a wrong secret", "[totp]") {
    std::string code = portal::totp_code(kSeed20, kNow, kDefault);
    std::string wrong = code;
    wrong[5] = wrong[5] == '9' ? '0' : static_cast<char>(wrong[5] + 1);
    CHECK_FALSE(portal::totp_verify(kSeed20, wrong, kNow, -1, kDefault).ok);
    CHECK_FALSE(portal::totp_verify(kSeed32, code, kNow, -1, kDefault).ok);
    CHECK_FALSE(portal::totp_verify(kSeed20, code, kNow, -1, {TotpAlgorithm::sha256, 6, 30}).ok);
}

TEST_CASE("totp: a code is never accepted twice", "[totp]") {
    std::string code = portal::totp_code(kSeed20, kNow, kDefault);
    auto first = portal::totp_verify(kSeed20, code, kNow, -1, kDefault);
    REQUIRE(first.ok);
    REQUIRE(first.step == kNowStep);
    auto replay = portal::totp_verify(kSeed20, code, kNow, first.step, kDefault);
    CHECK_FALSE(replay.ok);
    CHECK(replay.step == -1);
    // Still rejected a step later, when it is the "previous" code of the window.
    CHECK_FALSE(portal::totp_verify(kSeed20, code, kNow + 30, first.step, kDefault).ok);
    // The next step's code is fine.
    std::string next = portal::totp_code(kSeed20, kNow + 30, kDefault);
    CHECK(portal::totp_verify(kSeed20, next, kNow + 30, first.step, kDefault).ok);
}

TEST_CASE("totp: an older code is rejected after a newer one was accepted", "[totp]") {
    std::string newer = portal::totp_code(kSeed20, kNow + 30, kDefault);
    auto accepted = portal::totp_verify(kSeed20, newer, kNow, -1, kDefault);
    REQUIRE(accepted.ok);
    REQUIRE(accepted.step == kNowStep + 1);
    for (int offset : {-1, 0}) {
        CAPTURE(offset);
        std::string older = portal::totp_code(kSeed20, kNow + offset * 30, kDefault);
        CHECK_FALSE(portal::totp_verify(kSeed20, older, kNow, accepted.step, kDefault).ok);
    }
}

TEST_CASE("totp: malformed codes are rejected", "[totp]") {
    std::string code = portal::totp_code(kSeed20, kNow, kDefault);
    const std::string malformed[] = {
        "",
        "12345",
        "1234567",
        "12a456",
        " 123456",
        "123456 ",
        " " + code,
        code + " ",
        code + "\n",
        code.substr(0, 5),
        "+" + code.substr(1),
        "-" + code.substr(1),
        code.substr(0, 3) + " " + code.substr(3),
        std::string(code.data(), 3) + std::string(1, '\0') + code.substr(4),
        "\xD9\xA1\xD9\xA2\xD9\xA3",  // Arabic-Indic digits, 6 bytes
    };
    for (const auto& bad : malformed) {
        CAPTURE(bad);
        CHECK_FALSE(portal::totp_verify(kSeed20, bad, kNow, -1, kDefault).ok);
    }
    // The real 7- and 8-digit codes for this step (their last 6 digits are the 6-digit code).
    std::string seven = portal::totp_code(kSeed20, kNow, {TotpAlgorithm::sha1, 7, 30});
    std::string eight = portal::totp_code(kSeed20, kNow, {TotpAlgorithm::sha1, 8, 30});
    REQUIRE(seven.substr(1) == code);
    CHECK_FALSE(portal::totp_verify(kSeed20, seven, kNow, -1, kDefault).ok);
    CHECK_FALSE(portal::totp_verify(kSeed20, eight, kNow, -1, kDefault).ok);
    CHECK(portal::totp_verify(kSeed20, seven, kNow, -1, {TotpAlgorithm::sha1, 7, 30}).ok);
    // A 6-digit code when 8 are expected.
    CHECK_FALSE(portal::totp_verify(kSeed20, code, kNow, -1, {TotpAlgorithm::sha1, 8, 30}).ok);
}

TEST_CASE("totp: 60 second period", "[totp]") {
    const TotpParams p60{TotpAlgorithm::sha1, 6, 60};
    constexpr std::int64_t step = kNow / 60;
    CHECK(portal::totp_code(kSeed20, kNow, p60) == portal::hotp_code(kSeed20, static_cast<std::uint64_t>(step), p60));
    CHECK(portal::totp_code(kSeed20, step * 60, p60) == portal::totp_code(kSeed20, step * 60 + 59, p60));
    CHECK(portal::totp_code(kSeed20, step * 60, p60) != portal::totp_code(kSeed20, step * 60 + 60, p60));
    for (int offset : {-1, 0, 1}) {
        CAPTURE(offset);
        auto check = portal::totp_verify(kSeed20, portal::totp_code(kSeed20, kNow + offset * 60, p60), kNow, -1, p60);
        CHECK(check.ok);
        CHECK(check.step == step + offset);
    }
    for (int offset : {-2, 2}) {
        CAPTURE(offset);
        std::string code = portal::totp_code(kSeed20, kNow + offset * 60, p60);
        CHECK_FALSE(portal::totp_verify(kSeed20, code, kNow, -1, p60).ok);
    }
}

TEST_CASE("totp: verify near the epoch does not use negative steps", "[totp]") {
    std::string code = portal::totp_code(kSeed20, 0, kDefault);
    auto check = portal::totp_verify(kSeed20, code, 10, -1, kDefault);
    CHECK(check.ok);
    CHECK(check.step == 0);
    CHECK_FALSE(portal::totp_verify(kSeed20, code, -5, -1, kDefault).ok);
}

TEST_CASE("totp: random secrets", "[totp]") {
    auto a = portal::totp_random_secret();
    auto b = portal::totp_random_secret();
    CHECK(a.size() == 20);
    CHECK(a != b);
    CHECK(portal::totp_random_secret(32).size() == 32);
    CHECK_THROWS_AS(portal::totp_random_secret(0), std::invalid_argument);
}

TEST_CASE("totp: otpauth URI", "[totp]") {
    CHECK(portal::otpauth_uri("Portal", "alice", kSeed20, kDefault) ==
          "otpauth://totp/Portal:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Portal"
          "&algorithm=SHA1&digits=6&period=30");
    // Label and issuer are percent-encoded (space, '@', ':', '&', '?', '=', '/', '%', non-ASCII).
    CHECK(portal::otpauth_uri("ACME Inc & Co", "alice@example.com", kSeed32, {TotpAlgorithm::sha256, 8, 60}) ==
          "otpauth://totp/ACME%20Inc%20%26%20Co:alice%40example.com?secret="
          "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"
          "&issuer=ACME%20Inc%20%26%20Co&algorithm=SHA256&digits=8&period=60");
    CHECK(portal::otpauth_uri("a:b/c?d=e%", "J\xC3\xBCrgen", kSeed20, {TotpAlgorithm::sha512, 7, 30}) ==
          "otpauth://totp/a%3Ab%2Fc%3Fd%3De%25:J%C3%BCrgen?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
          "&issuer=a%3Ab%2Fc%3Fd%3De%25&algorithm=SHA512&digits=7&period=30");
    // The secret in the URI decodes back to the secret.
    auto secret = portal::totp_random_secret();
    std::string uri = portal::otpauth_uri("Portal", "bob", secret, kDefault);
    auto start = uri.find("secret=") + 7;
    CHECK(portal::base32_decode(uri.substr(start, uri.find('&', start) - start)) == secret);
    CHECK_THROWS_AS(portal::otpauth_uri("Portal", "bob", secret, {TotpAlgorithm::sha1, 6, 45}), std::invalid_argument);
}

namespace {

struct PipeCloser {
    void operator()(FILE* f) const { pclose(f); }
};

// Runs a shell command and returns its stdout without the trailing newline, or nullopt if it
// failed.
std::optional<std::string> run(const std::string& command) {
    std::unique_ptr<FILE, PipeCloser> pipe(popen(command.c_str(), "r"));
    if (!pipe) return std::nullopt;
    std::string out;
    std::array<char, 256> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe.get()) != nullptr) out += buf.data();
    int status = pclose(pipe.release());
    if (status != 0) return std::nullopt;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

}  // namespace

TEST_CASE("totp: oathtool agrees for a random secret", "[totp][oathtool]") {
    if (!portal::test::prerequisite(run("command -v oathtool >/dev/null 2>&1").has_value(), "oathtool not installed: no cross-check")) return;
    struct Case {
        TotpParams params;
        const char* flags;
    };
    const Case cases[] = {
        {{TotpAlgorithm::sha1, 6, 30}, "--totp"},
        {{TotpAlgorithm::sha1, 8, 30}, "--totp -d 8"},
        {{TotpAlgorithm::sha256, 6, 30}, "--totp=sha256"},
        {{TotpAlgorithm::sha512, 7, 60}, "--totp=sha512 -d 7 -s 60s"},
    };
    for (std::int64_t time : {std::int64_t{1700000000}, std::int64_t{1111111111}}) {
        for (const auto& c : cases) {
            auto secret = portal::totp_random_secret();
            // The base32 alphabet and digits are shell-safe.
            std::string command = std::string("oathtool ") + c.flags + " -b " + portal::base32_encode(secret) +
                                  " --now @" + std::to_string(time) + " 2>/dev/null";
            CAPTURE(command);
            auto theirs = run(command);
            REQUIRE(theirs.has_value());
            CHECK(*theirs == portal::totp_code(secret, time, c.params));
        }
    }
}

}  // namespace totp_test
