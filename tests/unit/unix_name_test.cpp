#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "shared/unix_name.h"

namespace unix_name_test {

using portal::derive_unix_name;
using portal::is_reserved_unix_name;
using portal::is_valid_unix_name;

namespace {

bool none_taken(std::string_view) { return false; }

std::string derive(std::string_view email) { return derive_unix_name(email, none_taken); }

void require_usable(const std::string& name) {
    INFO("name: " << name);
    REQUIRE(is_valid_unix_name(name));
    REQUIRE_FALSE(is_reserved_unix_name(name));
}

}  // namespace

TEST_CASE("unix_name: validity", "[unix_name]") {
    CHECK(is_valid_unix_name("alice"));
    CHECK(is_valid_unix_name("_apt"));
    CHECK(is_valid_unix_name("a-b_c9"));
    CHECK(is_valid_unix_name(std::string(32, 'a')));
    CHECK_FALSE(is_valid_unix_name(std::string(33, 'a')));
    CHECK_FALSE(is_valid_unix_name(""));
    CHECK_FALSE(is_valid_unix_name("1alice"));
    CHECK_FALSE(is_valid_unix_name("123"));
    CHECK_FALSE(is_valid_unix_name("-x"));
    CHECK_FALSE(is_valid_unix_name("Alice"));
    CHECK_FALSE(is_valid_unix_name("a.b"));
    CHECK_FALSE(is_valid_unix_name("a b"));
    CHECK_FALSE(is_valid_unix_name(std::string_view("a\0b", 3)));
}

TEST_CASE("unix_name: reserved names", "[unix_name]") {
    for (const char* n : {"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
                          "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "_apt", "messagebus",
                          "sshd", "polkitd", "admin", "administrator", "sudo", "wheel", "adm", "staff", "users",
                          "operator", "portal-keyd", "portal-2fa", "systemd-network", "systemd-anything", "_x"}) {
        INFO(n);
        CHECK(is_reserved_unix_name(n));
    }
    CHECK_FALSE(is_reserved_unix_name("alice"));
    CHECK_FALSE(is_reserved_unix_name("rooty"));
    CHECK_FALSE(is_reserved_unix_name("systemd"));
}

TEST_CASE("unix_name: derived from simple emails", "[unix_name]") {
    CHECK(derive("alice@example.com") == "alice");
    CHECK(derive("bob_smith@example.com") == "bob_smith");
    CHECK(derive("jo-anne@example.com") == "jo-anne");
    CHECK(derive("alice+portal@example.com") == "alice");
    CHECK(derive("alice+a+b@example.com") == "alice");
    CHECK(derive("first.last@example.com") == "first_last");
    CHECK(derive("a..b@example.com") == "a_b");
    CHECK(derive("Alice.Smith@Example.COM") == "alice_smith");
    CHECK(derive("ALICE@EXAMPLE.COM") == "alice");
    CHECK(derive("o'brien@example.com") == "o_brien");
    CHECK(derive("alice.@example.com") == "alice");
    CHECK(derive("noatsign") == "noatsign");
    CHECK(derive("\"a@b\"@example.com") == "a_b");  // quoted local part: the last '@' splits
}

TEST_CASE("unix_name: unicode and odd emails stay valid", "[unix_name]") {
    CHECK(derive("Ünïcode@x") == "unicode");
    CHECK(derive("José.García@x") == "jose_garcia");
    CHECK(derive("Straße@x") == "strasse");
    CHECK(derive("Łukasz@x") == "lukasz");
    CHECK(derive("123@x") == "u123");
    CHECK(derive("1abc@x") == "u1abc");
    CHECK(derive("-x@x") == "x");
    CHECK(derive("__x__@x") == "x");
    CHECK(derive("@x") == "user");
    CHECK(derive("") == "user");
    CHECK(derive("+tag@x") == "user");
    CHECK(derive("...@x") == "user");
    CHECK(derive("李雷@x") == "user");
    CHECK(derive("李雷.li@x") == "li");
    CHECK(derive("systemd-foo@x") == "usystemd-foo");
    CHECK(derive("_apt@x") == "apt");

    const std::string long_local(60, 'a');
    const std::string long_name = derive(long_local + "@x");
    CHECK(long_name == std::string(32, 'a'));

    for (const std::string& email :
         {std::string("Ünïcode@x"), std::string("123@x"), std::string("-x@x"), std::string("@x"), std::string(),
          long_local + "@x", std::string("\xff\xfe\xc3@x"), std::string("a\0b@x", 5), std::string("\xc3"),
          std::string(31, 'b') + ".-c@x", std::string(40, '.') + "z@x", std::string("systemd-@x")}) {
        require_usable(derive(email));
    }
}

TEST_CASE("unix_name: reserved names are never derived", "[unix_name]") {
    CHECK(derive("root@example.com") == "root2");
    CHECK(derive("Root@example.com") == "root2");
    CHECK(derive("www-data@example.com") == "www-data2");
    CHECK(derive("portal-keyd@example.com") == "uportal-keyd");
    require_usable(derive("root@example.com"));
}

TEST_CASE("unix_name: collisions get a number", "[unix_name]") {
    const std::set<std::string, std::less<>> taken = {"alice", "alice2"};
    std::vector<std::string> asked;
    const auto is_taken = [&](std::string_view n) {
        asked.emplace_back(n);
        return taken.find(n) != taken.end();
    };
    CHECK(derive_unix_name("alice@example.com", is_taken) == "alice3");
    CHECK(asked == std::vector<std::string>{"alice", "alice2", "alice3"});
    CHECK(derive_unix_name("bob@example.com", is_taken) == "bob");
}

TEST_CASE("unix_name: long names with collisions stay within 32 characters", "[unix_name]") {
    const std::string email = std::string(60, 'a') + "@example.com";
    std::set<std::string, std::less<>> taken;
    for (int i = 0; i < 120; ++i) {
        const auto is_taken = [&](std::string_view n) { return taken.find(n) != taken.end(); };
        const std::string name = derive_unix_name(email, is_taken);
        INFO("round " << i << ": " << name);
        REQUIRE(name.size() <= 32);
        require_usable(name);
        REQUIRE(taken.insert(name).second);
    }
    CHECK(taken.count(std::string(32, 'a')) == 1);
    CHECK(taken.count(std::string(31, 'a') + "2") == 1);
    CHECK(taken.count(std::string(30, 'a') + "10") == 1);
    CHECK(taken.count(std::string(29, 'a') + "100") == 1);

    // The cut never leaves a separator before the number.
    const std::string dotted = std::string(30, 'b') + ".cd@x";
    CHECK(derive(dotted) == std::string(30, 'b') + "_c");
    const auto first_taken = [](std::string_view n) { return n == std::string(30, 'b') + "_c"; };
    CHECK(derive_unix_name(dotted, first_taken) == std::string(30, 'b') + "2");
}

TEST_CASE("unix_name: a predicate that takes everything ends with an error", "[unix_name]") {
    const auto all_taken = [](std::string_view) { return true; };
    REQUIRE_THROWS_AS(derive_unix_name("alice@example.com", all_taken), std::runtime_error);
}

}  // namespace unix_name_test
