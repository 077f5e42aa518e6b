#include "keyd/store/timestamp.h"

#include <array>
#include <chrono>
#include <stdexcept>

namespace portal::store {

std::string format_rfc3339(std::time_t t) {
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) throw std::runtime_error("time out of range");
    std::array<char, 32> buf{};
    std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (n == 0) throw std::runtime_error("time out of range");
    return std::string(buf.data(), n);
}

std::string now_rfc3339() {
    return format_rfc3339(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()));
}

}  // namespace portal::store
