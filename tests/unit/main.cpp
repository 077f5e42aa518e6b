// unit_tests and api_tests: Catch's runner, after making the tests' temp root searchable by
// the other uids some cases run as (tests/CMakeLists.txt), whatever the umask; exit 77 when a
// case was skipped for a missing prerequisite (tests/unit/support/prerequisite.h).
#include "tests/catch_session.h"
#include "tests/unit/support/prerequisite.h"

#include <sys/stat.h>

#include <filesystem>
#include <string>

int main(int argc, char** argv) {
#ifdef PORTAL_TEST_TMP
    const std::filesystem::path tmp = PORTAL_TEST_TMP;
    std::error_code ec;
    std::filesystem::create_directories(tmp, ec);
    ::chmod(tmp.c_str(), 0755);
    if (tmp.parent_path() == "/run/portal-keyd-tests") ::chmod(tmp.parent_path().c_str(), 0755);
#endif
    const int failed = portal::test::run_catch_session(argc, argv);
    // A green run that skipped a case for a missing prerequisite is not a pass.
    if (failed == 0 && portal::test::prerequisite_skipped()) return portal::test::kSkippedExitCode;
    return failed;
}
