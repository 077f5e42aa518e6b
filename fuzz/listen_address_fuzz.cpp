// "[listen] https" addresses (keyd/net/listen_address.h), from the configuration file. Whatever
// the bytes, the parser answers or refuses with an error; what it accepts is an IP literal
// that inet_pton takes, and writing it back parses to the same address.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "keyd/net/listen_address.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    const auto a = portal::net::parse_listen_address(text, error);
    if (!a) {
        if (error.empty()) std::abort();  // a refusal always says why
        return 0;
    }
    unsigned char buf[sizeof(in6_addr)];
    if (::inet_pton(a->ipv6 ? AF_INET6 : AF_INET, a->ip.c_str(), buf) != 1) std::abort();
    const std::string again = (a->ipv6 ? "[" + a->ip + "]" : a->ip) + ":" + std::to_string(a->port);
    std::string error2;
    const auto b = portal::net::parse_listen_address(again, error2);
    if (!b || b->ip != a->ip || b->ipv6 != a->ipv6 || b->port != a->port) std::abort();
    return 0;
}
