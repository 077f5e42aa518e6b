// IP networks in CIDR notation ("192.0.2.0/24", "2001:db8::/32"), for the IP allowlist.
// Strict: inet_pton's literals only, a prefix in range, no host bits set (a typo such as
// "10.0.0.1/8" is refused rather than silently widened); a bare address is a /32 or /128.
// IPv4-mapped IPv6 addresses ("::ffff:192.0.2.1", what a dual-stack socket reports for an
// IPv4 client) count as the IPv4 address.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portal {

struct IpAddress {
    bool v4 = true;
    std::array<std::uint8_t, 16> bytes{};  // v4: the first 4
};

struct Cidr {
    IpAddress network;
    int prefix = 32;

    bool contains(const IpAddress& a) const;
    std::string text() const;  // canonical: "192.0.2.0/24", "2001:db8::/32"
};

// nullopt for anything but an IPv4 or IPv6 literal (mapped IPv6 becomes IPv4).
std::optional<IpAddress> parse_ip(std::string_view text);
// nullopt with `error` saying why.
std::optional<Cidr> parse_cidr(std::string_view text, std::string& error);
// Whether the network written as `cidr` contains `a` (false when `cidr` does not parse): for
// lists kept as text (the allowlist in the store and in the login state).
bool network_contains(std::string_view cidr, const IpAddress& a);

}  // namespace portal
