#include "keyd/net/listen_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>

namespace portal::net {

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string& error) {
    ListenAddress out;
    std::string_view host;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            error = "expected [IPv6]:port";
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        out.ipv6 = true;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            error = "expected IPv4:port or [IPv6]:port";
            return std::nullopt;
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            error = "an IPv6 address must be in brackets: [IPv6]:port";
            return std::nullopt;
        }
    }
    out.ip = std::string(host);
    unsigned char buf[sizeof(in6_addr)];
    if (::inet_pton(out.ipv6 ? AF_INET6 : AF_INET, out.ip.c_str(), buf) != 1) {
        error = "\"" + out.ip.substr(0, 64) + "\" is not an IP" + (out.ipv6 ? "v6" : "v4") +
                " address (host names are not accepted)";
        return std::nullopt;
    }
    unsigned value = 0;
    const auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value > 65535) {
        error = "port must be a number from 0 to 65535";
        return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(value);
    return out;
}

}  // namespace portal::net
