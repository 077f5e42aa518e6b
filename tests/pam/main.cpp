// pam_tests: re-executes itself under pam_wrapper, so the tests run the same from CTest, a
// shell or a debugger: LD_PRELOAD=libpam_wrapper.so (after the ASan runtime in sanitizer
// builds: ASan must come first), PAM_WRAPPER=1, PAM_WRAPPER_SERVICE_DIR=<build>/test-tmp/pam/services.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include "shared/ipc/trust.h"
#include "tests/catch_session.h"

int main(int argc, char** argv) {
    if (!std::getenv("PORTAL_PAM_TESTS_WRAPPED")) {
        ::setenv("PORTAL_PAM_TESTS_WRAPPED", "1", 1);
        ::setenv("LD_PRELOAD", PAM_TEST_PRELOAD, 1);
        ::setenv("PAM_WRAPPER", "1", 1);
        ::setenv("PAM_WRAPPER_SERVICE_DIR", PAM_TEST_DIR "/services", 1);
#ifdef PORTAL_SANITIZE_BUILD
        // Deep binding makes libpam's copy bypass ASan's interceptors.
        ::setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1", 1);
        // pam_wrapper 1.1.4 reads this name (its code taken from uid_wrapper) and otherwise
        // turns deep binding off only for a preloaded "libasan.so", not clang's runtime.
        ::setenv("UID_WRAPPER_DISABLE_DEEPBIND", "1", 1);
#endif
        ::execv("/proc/self/exe", argv);
        std::perror("pam_tests: re-exec under pam_wrapper");
        return 1;
    }
    // The fake daemon and state directory belong to the invoking user; let the client trust it
    // (honoured only for the caller's own uid; root is trusted anyway).
    ::setenv(portal::ipc::kTestAllowUidEnv, std::to_string(::getuid()).c_str(), 1);
    return portal::test::run_catch_session(argc, argv);
}
