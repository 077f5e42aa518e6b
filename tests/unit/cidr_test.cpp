#include <catch2/catch.hpp>

#include "shared/cidr.h"

namespace cidr_test {

TEST_CASE("cidr: parsing is strict and canonical", "[cidr]") {
    std::string why;
    CHECK(portal::parse_cidr("192.0.2.0/24", why)->text() == "192.0.2.0/24");
    CHECK(portal::parse_cidr("192.0.2.9", why)->text() == "192.0.2.9/32");
    CHECK(portal::parse_cidr("2001:0DB8::/32", why)->text() == "2001:db8::/32");
    CHECK(portal::parse_cidr("::/0", why)->text() == "::/0");
    CHECK(portal::parse_cidr("0.0.0.0/0", why)->text() == "0.0.0.0/0");
    for (const char* bad : {"", "/24", "192.0.2.0/24/1", "192.0.2.1/24", "192.0.2.0/-1", "192.0.2.0/+8", "1.2.3",
                            "192.0.2.0/ 24", "::ffff:192.0.2.0/120", "fe80::1%lo", "2001:db8::1/64"}) {
        INFO(bad);
        why.clear();
        CHECK_FALSE(portal::parse_cidr(bad, why));
        CHECK_FALSE(why.empty());
    }
}

TEST_CASE("cidr: membership, with IPv4-mapped IPv6 clients counted as IPv4", "[cidr]") {
    std::string why;
    const auto net = *portal::parse_cidr("10.1.0.0/17", why);
    CHECK(net.contains(*portal::parse_ip("10.1.127.255")));
    CHECK_FALSE(net.contains(*portal::parse_ip("10.1.128.0")));
    CHECK(net.contains(*portal::parse_ip("::ffff:10.1.2.3")));
    CHECK_FALSE(net.contains(*portal::parse_ip("2001:db8::1")));
    const auto v6 = *portal::parse_cidr("2001:db8:8000::/33", why);
    CHECK(v6.contains(*portal::parse_ip("2001:db8:ffff::1")));
    CHECK_FALSE(v6.contains(*portal::parse_ip("2001:db8:7fff::1")));
    CHECK_FALSE(v6.contains(*portal::parse_ip("10.1.2.3")));
    CHECK(portal::parse_cidr("::/0", why)->contains(*portal::parse_ip("::1")));
    CHECK_FALSE(portal::parse_ip("localhost"));
    CHECK_FALSE(portal::parse_ip(std::string_view("127.0.0.1\0x", 11)));
}

}  // namespace cidr_test
