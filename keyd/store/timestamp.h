// RFC 3339 UTC timestamps with whole seconds ("2026-11-28T03:07:00Z"), the API's format.
// Fixed width, so they also sort correctly as text.
#pragma once
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace portal::store {

std::string format_rfc3339(std::time_t t);
std::string now_rfc3339();
// Strict: exactly that form (20 bytes, "Z", a real calendar date from 1970 and time of day); nullopt
// for anything else.
std::optional<std::time_t> parse_rfc3339(std::string_view text);

}  // namespace portal::store
