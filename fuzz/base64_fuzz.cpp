// Strict base64 of the store's sealed secrets and recovery-code hashes (keyd/tfa/base64):
// whatever decodes must be exactly what encode() writes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "keyd/tfa/base64.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto bytes = portal::tfa::base64_decode(text, 4096)) {
        if (portal::tfa::base64_encode(*bytes) != text) std::abort();  // strict: canonical only
    }
    const auto encoded = portal::tfa::base64_encode(std::span(data, size));
    auto back = portal::tfa::base64_decode(encoded, encoded.size());
    if (!back || back->size() != size || !std::equal(back->begin(), back->end(), data)) std::abort();
    if (encoded.size() > 0 && portal::tfa::base64_decode(encoded, encoded.size() - 1)) std::abort();  // max_len holds
    return 0;
}
