// RFC 3339 UTC timestamps with whole seconds ("2026-11-28T03:07:00Z"), the API's format.
// Fixed width, so they also sort correctly as text.
#pragma once
#include <ctime>
#include <string>

namespace portal::store {

std::string format_rfc3339(std::time_t t);
std::string now_rfc3339();

}  // namespace portal::store
