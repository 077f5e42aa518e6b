#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "keyd/tfa/base64.h"

namespace base64_test {

using portal::tfa::base64_decode;
using portal::tfa::base64_encode;

namespace {
std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }
}  // namespace

TEST_CASE("base64: RFC 4648 test vectors both ways", "[base64]") {
    const std::pair<const char*, const char*> vectors[] = {{"", ""},           {"f", "Zg=="},         {"fo", "Zm8="},
                                                           {"foo", "Zm9v"},    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                           {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : vectors) {
        INFO(plain);
        CHECK(base64_encode(bytes(plain)) == encoded);
        const auto d = base64_decode(encoded, 64);
        REQUIRE(d);
        CHECK(*d == bytes(plain));
    }
    const std::vector<std::uint8_t> all = [] {
        std::vector<std::uint8_t> v;
        for (int i = 0; i < 256; ++i) v.push_back(static_cast<std::uint8_t>(i));
        return v;
    }();
    CHECK(base64_decode(base64_encode(all), 1024) == all);
}

TEST_CASE("base64: anything but exact padded groups is refused", "[base64]") {
    for (const char* bad : {"Zg", "Zg=", "Zm9", "Z===", "Zg==Zg==", "Zm 9v", "Zm9v\n", "Zm9-", "Zm9_", "====",
                            "Zg=A"}) {
        INFO(bad);
        CHECK_FALSE(base64_decode(bad, 64));
    }
    CHECK_FALSE(base64_decode("Zm9vYmFy", 7));  // over max_len
    CHECK(base64_decode("Zm9vYmFy", 8));
}

TEST_CASE("base64: padding bits must be zero, one spelling per value", "[base64]") {
    // Found by fuzz/base64_fuzz: these decoded to "f", "fo", "foob" although encode()
    // writes them as Zg==, Zm8=, Zm9vYg==.
    for (const char* bad : {"Zh==", "Zm9=", "Zm9vYh==", "Zv==", "Zm/="}) {
        INFO(bad);
        CHECK_FALSE(base64_decode(bad, 64));
    }
    CHECK(base64_decode("Zg==", 64));
    CHECK(base64_decode("Zm8=", 64));
}

}  // namespace base64_test
