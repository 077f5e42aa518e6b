#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "shared/base32.h"

namespace base32_test {

using portal::base32_decode;
using portal::base32_encode;

namespace {

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("base32: RFC 4648 test vectors", "[base32]") {
    struct Vector {
        const char* plain;
        const char* padded;
    };
    const Vector vectors[] = {
        {"", ""},
        {"f", "MY======"},
        {"fo", "MZXQ===="},
        {"foo", "MZXW6==="},
        {"foob", "MZXW6YQ="},
        {"fooba", "MZXW6YTB"},
        {"foobar", "MZXW6YTBOI======"},
    };
    for (const auto& v : vectors) {
        CAPTURE(v.plain);
        std::string padded = v.padded;
        std::string unpadded = padded.substr(0, padded.find('='));
        CHECK(base32_encode(bytes_of(v.plain)) == unpadded);
        CHECK(base32_decode(padded) == bytes_of(v.plain));
        CHECK(base32_decode(unpadded) == bytes_of(v.plain));
    }
}

TEST_CASE("base32: the RFC 6238 SHA1 seed", "[base32]") {
    CHECK(base32_encode(bytes_of("12345678901234567890")) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

TEST_CASE("base32: decode accepts lower case and spaces", "[base32]") {
    CHECK(base32_decode("mzxw6ytboi") == bytes_of("foobar"));
    CHECK(base32_decode("MzXw 6yTb oI") == bytes_of("foobar"));
    CHECK(base32_decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq") == bytes_of("12345678901234567890"));
    CHECK(base32_decode("MZXW6YTBOI== ====") == bytes_of("foobar"));
    CHECK(base32_decode("   ") == std::vector<std::uint8_t>{});
}

TEST_CASE("base32: decode rejects bad characters", "[base32]") {
    for (const char* bad : {"MZXW6YT1", "MZXW6YT8", "MZXW6YT0", "MZXW6YT!", "MZXW6YT-", "MZXW\t6YTB", "MZXW\n6YTB",
                            "MZXW6YTB\xC3\x84"}) {
        CAPTURE(bad);
        CHECK_FALSE(base32_decode(bad).has_value());
    }
    CHECK_FALSE(base32_decode(std::string_view("MZXW6YT\0", 8)).has_value());
}

TEST_CASE("base32: decode rejects impossible lengths and misplaced padding", "[base32]") {
    for (const char* bad : {"M", "MZX", "MZXW6Y", "MZXW6YTBO", "MY=", "MY=======", "MZXW6YTB=", "=", "========",
                            "MZ=XW6===", "M=Y=====", "MZXW6YTB========"}) {
        CAPTURE(bad);
        CHECK_FALSE(base32_decode(bad).has_value());
    }
}

TEST_CASE("base32: round trips random data of every length up to 64", "[base32]") {
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> byte(0, 255);
    for (std::size_t len = 0; len <= 64; ++len) {
        std::vector<std::uint8_t> data(len);
        for (auto& b : data) b = static_cast<std::uint8_t>(byte(rng));
        std::string text = base32_encode(data);
        CAPTURE(len, text);
        CHECK(text.size() == (len * 8 + 4) / 5);
        CHECK(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == std::string::npos);
        CHECK(base32_decode(text) == data);
    }
}

}  // namespace base32_test
