// The state directory's manifest (keyd/login/state_dir_manifest.h): read at start-up from a
// root-only file the daemon wrote at its last clean stop. Whatever the bytes, the parser
// answers or refuses with an error; what it accepts survives a write/read round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "keyd/login/state_dir_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    const auto m = portal::login::manifest_from_text(text, error);
    if (!m) {
        if (error.empty()) std::abort();  // a refusal always says why
        return 0;
    }
    std::string again;
    const auto back = portal::login::manifest_from_text(portal::login::manifest_to_text(*m), again);
    if (!back || back->account_id != m->account_id || back->revision != m->revision || back->entries != m->entries)
        std::abort();
    return 0;
}
