// The IAM feed's changes (shared/ipc/feed_changes.h), as an agent reads them from the
// network. Whatever the bytes, the parser answers or refuses with a reason; what it accepts
// writes back to text that parses to the same changes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "shared/ipc/feed_changes.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string why;
    const auto c = portal::ipc::feed_changes_from_json(text, why);
    if (!c) {
        if (why.empty()) std::abort();  // a refusal always says why
        return 0;
    }
    std::string why2;
    const auto again = portal::ipc::feed_changes_from_json(portal::ipc::feed_changes_to_json(*c), why2);
    if (!again || again->revision != c->revision || again->upserts != c->upserts ||
        again->removed_user_ids != c->removed_user_ids || again->enforce_2fa != c->enforce_2fa ||
        again->ip_allowlist != c->ip_allowlist)
        std::abort();
    return 0;
}
