// base32 as users type TOTP secrets (shared/base32): decode, and round trips both ways.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "shared/base32.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto bytes = portal::base32_decode(text)) {
        // What we decoded encodes to something that decodes to the same bytes.
        auto again = portal::base32_decode(portal::base32_encode(*bytes));
        if (!again || *again != *bytes) std::abort();
    }
    // Any bytes encode to text that decodes back to them.
    auto back = portal::base32_decode(portal::base32_encode(std::span(data, size)));
    if (!back || back->size() != size || !std::equal(back->begin(), back->end(), data)) std::abort();
    return 0;
}
