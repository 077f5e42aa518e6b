// e2e_tests: real portal-keyd, real sshd (PAM through pam_wrapper), real SSH clients. Needs
// root: the binary enters a private mount namespace of its own (unshare(CLONE_NEWNS), mount
// propagation private), where each test's World mounts tmpfs over /run/userdb,
// /run/systemd/userdb and /home; nothing it publishes is seen outside. Exits 77 (CTest's
// SKIP_RETURN_CODE) when it cannot run here. Under PORTAL_SANITIZE sshd preloads the ASan
// runtime (it loads the ASan-built pam_portal.so), and every World fails on any sanitizer
// report of the daemon, sshd/PAM or the keys helper.
// Catch's implementation is tests/catch_impl.cpp; the listener's base needs its interfaces.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <string_view>

#include "tests/catch_session.h"
#include "tests/e2e/support/environment.h"
#include "tests/e2e/support/world.h"  // failed_assertions

namespace {

constexpr int kSkip = 77;

struct FailureCounter : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    bool assertionEnded(const Catch::AssertionStats& stats) override {
        if (!stats.assertionResult.isOk()) ++portal::e2e::failed_assertions;
        return true;
    }
};

int skip(const std::string& why) {
    std::fprintf(stderr, "e2e_tests: SKIPPED: %s\n", why.c_str());
    return kSkip;
}

bool listing_only(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a.starts_with("--list") || a == "-l" || a == "-t" || a == "-h" || a == "--help" || a == "-?") return true;
    }
    return false;
}

}  // namespace

CATCH_REGISTER_LISTENER(FailureCounter)

#ifdef PORTAL_SANITIZE_BUILD
// nss-systemd (getgrouplist in the tests' own lookups) keeps a few bytes for good.
extern "C" const char* __lsan_default_suppressions() { return "leak:libnss_systemd.so\n"; }
#endif

int main(int argc, char** argv) {
    // Test discovery.
    if (listing_only(argc, argv)) return portal::test::run_catch_session(argc, argv);
    using namespace portal::e2e;
    if (auto why = missing_prerequisite(); !why.empty()) return skip(why);
    if (auto why = prepare_test_dir(); !why.empty()) {
        std::fprintf(stderr, "e2e_tests: FAILED: %s\n", why.c_str());
        return 1;
    }
    if (auto why = enter_private_namespace(); !why.empty()) return skip(why);
    return portal::test::run_catch_session(argc, argv);
}
