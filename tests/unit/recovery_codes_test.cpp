#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "keyd/tfa/recovery_codes.h"

namespace recovery_codes_test {

using portal::generate_recovery_codes;
using portal::hash_recovery_code;
using portal::verify_recovery_code;

namespace {

// "xxxx-xxxx-xxxx" over 2-9 and a-z without i, l, o. (No std::regex: g++ 12 warns
// inside it under the sanitizer build.)
bool has_code_shape(const std::string& c) {
    const std::string alphabet = "23456789abcdefghjkmnpqrstuvwxyz";
    if (c.size() != 14) return false;
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (i == 4 || i == 9) {
            if (c[i] != '-') return false;
        } else if (alphabet.find(c[i]) == std::string::npos) {
            return false;
        }
    }
    return true;
}

}  // namespace

TEST_CASE("recovery_codes: format and uniqueness", "[recovery_codes]") {
    const auto codes = generate_recovery_codes();
    REQUIRE(codes.size() == 10);
    for (const auto& c : codes) {
        INFO(c);
        CHECK(has_code_shape(c));
    }
    CHECK(std::set<std::string>(codes.begin(), codes.end()).size() == codes.size());

    std::set<std::string> many;
    for (int i = 0; i < 50; ++i)
        for (auto& c : generate_recovery_codes(20)) many.insert(c);
    CHECK(many.size() == 1000);

    CHECK(generate_recovery_codes(0).empty());
    CHECK(generate_recovery_codes(3).size() == 3);
    CHECK_THROWS_AS(generate_recovery_codes(-1), std::invalid_argument);
    CHECK_FALSE(has_code_shape("abcd-efgh-ijkl"));  // the checker itself rejects look-alikes
}

TEST_CASE("recovery_codes: hash verifies, wrong code fails", "[recovery_codes]") {
    const auto codes = generate_recovery_codes(2);
    const std::string h = hash_recovery_code(codes[0]);
    INFO(h);
    CHECK(h.starts_with("v1$"));
    CHECK(h.find(codes[0]) == std::string::npos);
    CHECK(verify_recovery_code(codes[0], h));
    CHECK_FALSE(verify_recovery_code(codes[1], h));
    CHECK_FALSE(verify_recovery_code("", h));
    CHECK_FALSE(verify_recovery_code("----", h));
    CHECK_FALSE(verify_recovery_code(std::string(1000, 'a'), h));

    // Salted: the same code hashes differently each time, and both verify.
    const std::string h2 = hash_recovery_code(codes[0]);
    CHECK(h2 != h);
    CHECK(verify_recovery_code(codes[0], h2));
}

TEST_CASE("recovery_codes: normalization of case, dashes and spaces", "[recovery_codes]") {
    const std::string h = hash_recovery_code("ABCD-efgh-1234");
    CHECK(verify_recovery_code("abcdefgh1234", h));
    CHECK(verify_recovery_code("abcd efgh 1234", h));
    CHECK(verify_recovery_code(" ABCD-EFGH-1234\n", h));
    CHECK_FALSE(verify_recovery_code("abcdefgh1235", h));
    CHECK_FALSE(verify_recovery_code("abcdefgh123", h));
    CHECK(verify_recovery_code("ABCD-efgh-1234", hash_recovery_code("abcdefgh1234")));
    CHECK_THROWS_AS(hash_recovery_code(" - "), std::invalid_argument);
}

TEST_CASE("recovery_codes: malformed stored hashes never verify", "[recovery_codes]") {
    const std::string code = "abcd-efgh-jkmn";
    const std::string good = hash_recovery_code(code);
    const auto first = good.find('$', 3);
    REQUIRE(first != std::string::npos);
    for (const std::string& bad :
         {std::string(), std::string("v1"), std::string("v1$"), std::string("v1$$"), "v2" + good.substr(2),
          good.substr(0, first), good.substr(0, good.size() - 4), good + "AAAA", "v1$" + good.substr(first + 1),
          std::string("v1$!!!!$AAAA"), good.substr(0, first + 1) + "AAAA"}) {
        INFO(bad);
        CHECK_FALSE(verify_recovery_code(code, bad));
    }
    std::string flipped = good;
    flipped[first + 5] = flipped[first + 5] == 'A' ? 'B' : 'A';
    CHECK_FALSE(verify_recovery_code(code, flipped));
}

}  // namespace recovery_codes_test
