// IP allowlist entries (shared/cidr.h), from the API. Whatever the bytes, the parser answers or
// refuses with a reason; what it accepts writes back to a form that parses to the same
// network, which contains its own network address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "shared/cidr.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string why;
    const auto c = portal::parse_cidr(text, why);
    (void)portal::parse_ip(text);
    if (!c) {
        if (why.empty()) std::abort();  // a refusal always says why
        return 0;
    }
    std::string why2;
    const auto again = portal::parse_cidr(c->text(), why2);
    if (!again || again->text() != c->text() || again->prefix != c->prefix) std::abort();
    if (!c->contains(c->network)) std::abort();
    return 0;
}
