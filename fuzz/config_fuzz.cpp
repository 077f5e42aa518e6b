// portal-keyd.toml (keyd/config): toml++ and the strict per-key checks on top of it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "keyd/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        portal::config::Config cfg = portal::config::parse_config(text, "fuzz.toml");
        (void)cfg.system_instance();
    } catch (const portal::config::ConfigError&) {
        // Refused with a location: the expected outcome for most inputs.
    }
    return 0;
}
