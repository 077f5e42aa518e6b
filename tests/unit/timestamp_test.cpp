// RFC 3339 timestamps as the API writes them: parsing is strict and round-trips formatting.
#include <catch2/catch.hpp>

#include "keyd/store/timestamp.h"

namespace timestamp_test {

using portal::store::format_rfc3339;
using portal::store::parse_rfc3339;

TEST_CASE("timestamps: the API's own form parses back to the same second", "[unit][timestamp]") {
    CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == std::time_t{0});
    CHECK(parse_rfc3339("2026-12-03T08:45:07Z") == std::time_t{1796287507});
    CHECK(parse_rfc3339("2028-02-29T23:59:59Z").has_value());  // a leap day
    for (std::time_t t : {std::time_t{0}, std::time_t{951782400}, std::time_t{1796287507}, std::time_t{4102444799}})
        CHECK(parse_rfc3339(format_rfc3339(t)) == t);
}

TEST_CASE("timestamps: anything but that exact form is refused", "[unit][timestamp]") {
    for (const char* bad : {"", "2026-12-03", "2026-12-03T08:45:07", "2026-12-03T08:45:07z", "2026-12-03 08:45:07Z",
                            "2026-12-03T08:45:07+00:00", "2026-12-03T08:45:07.5Z", "2026-13-03T08:45:07Z",
                            "2026-00-03T08:45:07Z", "2026-02-29T08:45:07Z", "2026-04-31T08:45:07Z",
                            "2026-12-00T08:45:07Z", "2026-12-03T24:00:00Z", "2026-12-03T08:60:07Z",
                            "2026-12-03T08:45:60Z", "1969-12-31T23:59:59Z", "+026-12-03T08:45:07Z", "2026-12-03T08:45:07Z ", "２026-12-03T08:45:07Z"}) {
        INFO(bad);
        CHECK_FALSE(parse_rfc3339(bad).has_value());
    }
}

}  // namespace timestamp_test
