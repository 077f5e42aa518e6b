// SSH public key lines as users paste them into the API and portalctl (shared/ssh_key).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "shared/ssh_key.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    auto result = portal::parse_ssh_public_key(line);
    if (const auto* key = std::get_if<portal::ParsedSshKey>(&result)) {
        // An accepted key re-parses to the same key: what the store keeps is canonical.
        auto again = portal::parse_ssh_public_key(key->normalized());
        const auto* same = std::get_if<portal::ParsedSshKey>(&again);
        if (!same || same->fingerprint_sha256 != key->fingerprint_sha256 || same->bits != key->bits) std::abort();
        if (key->fingerprint_sha256.rfind("SHA256:", 0) != 0) std::abort();
    }
    return 0;
}
