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
    for (const char* bin : {AUTHORIZED_KEYS_BIN, AUTHORIZED_KEYS_NSS_BIN, PAM_PORTAL_MODULE}) {
        const std::string deps = tool_output({"/usr/bin/ldd", bin});
        // authorized-keys is static: no libraries to list, so look for their code in it.
        const std::string symbols = tool_output({"/usr/bin/nm", bin});
        INFO(bin << ":\n" << deps);
        for (const char* lib : {"libcurl", "libssh", "libcrypto", "libssl", "libsystemd", "libboost", "libsqlite",
                                "libqrencode", "libtomlplusplus"})
            CHECK(deps.find(lib) == std::string::npos);
        for (const char* symbol : {" curl_", " ssh_", " EVP_", " SSL_", " sd_bus_", " sqlite3_", " QRcode_"})
            CHECK(symbols.find(symbol) == std::string::npos);
    }
}

#ifndef PORTAL_SANITIZE_BUILD
// sshd starts authorized-keys for every key offered: static-pie, so no dynamic loader runs
// (pam_module/CMakeLists.txt). Static glibc must never do NSS (it would load the installed
// glibc's modules into a binary built against another): the form that needs a lookup runs
// the dynamically linked authorized-keys-nss.
TEST_CASE("linkage: authorized-keys is static-pie without NSS, authorized-keys-nss is dynamic", "[linkage]") {
    const std::string headers = tool_output({"/usr/bin/readelf", "--program-headers", "--dynamic", AUTHORIZED_KEYS_BIN});
    INFO(headers);
    CHECK(headers.find("INTERP") == std::string::npos);
    CHECK(headers.find("NEEDED") == std::string::npos);
    CHECK(headers.find("PIE") != std::string::npos);  // FLAGS_1: position independent (ASLR)
    const std::string symbols = tool_output({"/usr/bin/nm", AUTHORIZED_KEYS_BIN});
    for (const char* nss : {" getpwnam", " getpwuid", " __nss_", " getgrnam"}) CHECK(symbols.find(nss) == std::string::npos);

    const std::string deps = tool_output({"/usr/bin/ldd", AUTHORIZED_KEYS_NSS_BIN});
    INFO(deps);
    CHECK(deps.find("libc.so.6") != std::string::npos);
    CHECK(deps.find("libstdc++") == std::string::npos);
}
#endif

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
