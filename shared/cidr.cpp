#include "shared/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace portal {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool host_bits_clear(const IpAddress& a, int prefix) {
    const int bits = a.v4 ? 32 : 128;
    for (int i = prefix; i < bits; ++i)
        if (a.bytes[static_cast<std::size_t>(i / 8)] & (0x80 >> (i % 8))) return false;
    return true;
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    const std::string z(text);  // inet_pton wants a terminated string
    if (z.find('\0') != std::string::npos) return std::nullopt;
    IpAddress a;
    if (z.find(':') == std::string::npos) {
        in_addr v4{};
        if (::inet_pton(AF_INET, z.c_str(), &v4) != 1) return std::nullopt;
        a.v4 = true;
        std::memcpy(a.bytes.data(), &v4, 4);
        return a;
    }
    in6_addr v6{};
    if (::inet_pton(AF_INET6, z.c_str(), &v6) != 1) return std::nullopt;
    std::memcpy(a.bytes.data(), &v6, 16);
    if (std::memcmp(a.bytes.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0) {
        std::array<std::uint8_t, 16> v4{};
        std::memcpy(v4.data(), a.bytes.data() + 12, 4);
        a.bytes = v4;
        a.v4 = true;
        return a;
    }
    a.v4 = false;
    return a;
}

std::optional<Cidr> parse_cidr(std::string_view text, std::string& error) {
    const auto slash = text.find('/');
    const std::string_view addr = text.substr(0, slash);
    auto ip = parse_ip(addr);
    if (!ip) {
        error = "not an IPv4 or IPv6 address";
        return std::nullopt;
    }
    if (ip->v4 && addr.find(':') != std::string_view::npos) {
        error = "write IPv4-mapped addresses as IPv4 (" + std::to_string(ip->bytes[0]) + "." +
                std::to_string(ip->bytes[1]) + "." + std::to_string(ip->bytes[2]) + "." + std::to_string(ip->bytes[3]) + ")";
        return std::nullopt;
    }
    const int bits = ip->v4 ? 32 : 128;
    int prefix = bits;
    if (slash != std::string_view::npos) {
        const std::string_view p = text.substr(slash + 1);
        const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (p.empty() || p.size() > 3 || ec != std::errc() || end != p.data() + p.size() || prefix < 0 || prefix > bits ||
            (p.size() > 1 && p.front() == '0')) {
            error = "prefix length must be 0 to " + std::to_string(bits);
            return std::nullopt;
        }
    }
    if (!host_bits_clear(*ip, prefix)) {
        error = "host bits are set after the /" + std::to_string(prefix) + " prefix";
        return std::nullopt;
    }
    return Cidr{*ip, prefix};
}

bool network_contains(std::string_view cidr, const IpAddress& a) {
    std::string why;
    const auto c = parse_cidr(cidr, why);
    return c && c->contains(a);
}

bool Cidr::contains(const IpAddress& a) const {
    if (a.v4 != network.v4) return false;
    int left = prefix;
    for (std::size_t i = 0; left > 0; ++i, left -= 8) {
        const auto mask = static_cast<std::uint8_t>(left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff);
        if ((a.bytes[i] & mask) != (network.bytes[i] & mask)) return false;
    }
    return true;
}

std::string Cidr::text() const {
    char buf[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(network.v4 ? AF_INET : AF_INET6, network.bytes.data(), buf, sizeof buf);
    return std::string(buf) + "/" + std::to_string(prefix);
}

}  // namespace portal
