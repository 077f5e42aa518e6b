// The login path stays lean: no heavy libraries in the helper or the module, and the module
// exports the PAM entry points only (docs/LOGIN_PROTOCOL.md, /work/shared DESIGN "Lean hot path").
#include "tests/pam/support.h"

#include <sstream>

using namespace portal::test;

namespace {

std::string tool_output(const std::vector<std::string>& argv) {
    auto r = run_process(argv, {"PATH=/usr/bin:/bin", "LC_ALL=C"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
}

}  // namespace

TEST_CASE("linkage: helper and module link no heavy libraries", "[linkage]") {
    for (const char* bin : {AUTHORIZED_KEYS_BIN, PAM_PORTAL_MODULE}) {
        const std::string deps = tool_output({"/usr/bin/ldd", bin});
        INFO(bin << ":\n" << deps);
        for (const char* lib : {"libcurl", "libssh", "libcrypto", "libssl", "libsystemd", "libboost", "libsqlite",
                                "libqrencode", "libtomlplusplus"})
            CHECK(deps.find(lib) == std::string::npos);
    }
}

TEST_CASE("linkage: pam_portal.so exports pam_sm_* only", "[linkage]") {
    const std::string out = tool_output({"/usr/bin/nm", "-D", "--defined-only", PAM_PORTAL_MODULE});
    std::istringstream in(out);
    std::vector<std::string> names;
    for (std::string line; std::getline(in, line);) {
        std::istringstream fields(line);
        std::string addr, type, name;
        fields >> addr >> type >> name;
        if (!name.empty()) names.push_back(name);
    }
    INFO(out);
    CHECK(names.size() == 5);
    for (const auto& n : names) CHECK(n.rfind("pam_sm_", 0) == 0);
}
