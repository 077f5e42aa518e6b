// Catch's session for a test binary's own main(). Catch's implementation is compiled once, in
// tests/catch_impl.cpp, and its single header declares Catch::Session only there.
#pragma once

namespace portal::test {

// Catch::Session().run(argc, argv): the number of failed test cases.
int run_catch_session(int argc, char** argv);

}  // namespace portal::test
