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

std::optional<std::time_t> parse_rfc3339(std::string_view text) {
    // YYYY-MM-DDTHH:MM:SSZ
    constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
    if (text.size() != kShape.size()) return std::nullopt;
    for (std::size_t i = 0; i < kShape.size(); ++i) {
        const bool digit = text[i] >= '0' && text[i] <= '9';
        if (kShape[i] == 'd' ? !digit : text[i] != kShape[i]) return std::nullopt;
    }
    auto number = [&](std::size_t at, std::size_t len) {
        int n = 0;
        for (std::size_t i = at; i < at + len; ++i) n = n * 10 + (text[i] - '0');
        return n;
    };
    const std::chrono::year_month_day date{std::chrono::year{number(0, 4)},
                                           std::chrono::month{static_cast<unsigned>(number(5, 2))},
                                           std::chrono::day{static_cast<unsigned>(number(8, 2))}};
    const int hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
    if (!date.ok() || date.year() < std::chrono::year{1970} || hour > 23 || minute > 59 || second > 59) return std::nullopt;
    const auto at = std::chrono::sys_days{date} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
                    std::chrono::seconds{second};
    return static_cast<std::time_t>(at.time_since_epoch().count());
}

std::string now_rfc3339() {
    return format_rfc3339(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()));
}

}  // namespace portal::store
