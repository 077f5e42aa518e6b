// Catch's implementation (CATCH_CONFIG_RUNNER: everything but main), compiled once for every
// test binary and ssh_login_bench instead of once in each of their runners: under the
// sanitizers it is a minute of compile time each. The runners include <catch2/catch.hpp>
// plainly and define main() themselves.
#define CATCH_CONFIG_RUNNER
// g++ 12 at -O2 with the sanitizers sees a false "maybe uninitialized" in <regex>, which the
// Catch implementation uses.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <catch2/catch.hpp>

#include "tests/catch_session.h"

namespace portal::test {

// A name that matches no test case fails (exit 2) instead of passing with nothing run: CTest
// runs each case by its name, and a name CMake mangles (a ';' splits it) would otherwise
// pass without running anything.
int run_catch_session(int argc, char** argv) {
    Catch::Session session;
    if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
    auto& config = session.configData();
    config.warnings = static_cast<Catch::WarnAbout::What>(config.warnings | Catch::WarnAbout::NoTests);
    return session.run();
}

}  // namespace portal::test
