// A test case whose prerequisite is missing (root, a tool) must not pass green. As root, or
// with PORTAL_TESTS_STRICT=1, the case fails. Otherwise it says why and counts as skipped:
// the test binary then exits 77, which CTest reports as "Skipped" (SKIP_RETURN_CODE in
// tests/CMakeLists.txt) and scripts/test refuses as root. Catch2 v2 has no SKIP of its own.
//     if (!test::prerequisite(::geteuid() == 0, "needs root (setuid children)")) return;
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include <catch2/catch.hpp>

namespace portal::test {

inline constexpr int kSkippedExitCode = 77;

// Set when a case was skipped; main() turns a green run with skips into exit 77.
inline bool& prerequisite_skipped() {
    static bool skipped = false;
    return skipped;
}

inline bool strict_prerequisites() {
    const char* strict = std::getenv("PORTAL_TESTS_STRICT");
    return ::geteuid() == 0 || (strict && std::string_view(strict) == "1");
}

// True when `ok`. Otherwise FAILs (strict) or records a visible skip and returns false:
// the caller returns from the test case.
inline bool prerequisite(bool ok, std::string_view why) {
    if (ok) return true;
    if (strict_prerequisites()) FAIL("missing prerequisite (as root or PORTAL_TESTS_STRICT=1): " << why);
    WARN("SKIPPED, missing prerequisite: " << why);
    prerequisite_skipped() = true;
    return false;
}

}  // namespace portal::test
