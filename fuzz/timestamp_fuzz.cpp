// RFC 3339 timestamps (keyd/store/timestamp.h), from the API (support access expiry). Whatever
// the bytes, the parser answers or refuses; what it accepts is exactly the form the daemon
// writes, so formatting it gives the same text back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "keyd/store/timestamp.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto t = portal::store::parse_rfc3339(text);
    if (!t) return 0;
    if (portal::store::format_rfc3339(*t) != text) std::abort();
    return 0;
}
