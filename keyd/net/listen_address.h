// "[listen] https" addresses: an IP literal and a port, "0.0.0.0:8443", "127.0.0.1:0",
// "[::]:8443" (IPv6 in brackets; "[::]" also takes IPv4). Host names are refused: what a
// name resolves to can change under a running daemon, and binding must not wait on DNS.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portal::net {

struct ListenAddress {
    std::string ip;  // as written, without brackets
    bool ipv6 = false;
    std::uint16_t port = 0;  // 0: any free port (tests)
};

// nullopt with `error` saying what is wrong.
std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string& error);

}  // namespace portal::net
