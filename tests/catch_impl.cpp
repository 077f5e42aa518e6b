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

int run_catch_session(int argc, char** argv) { return Catch::Session().run(argc, argv); }

}  // namespace portal::test
