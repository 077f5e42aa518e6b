// ssh_login_bench: a whole SSH login (libssh client: connect, key exchange, publickey, PAM
// account and session, one `true` over a channel) through portal-keyd versus the same sshd
// reading the same key from a static AuthorizedKeysFile (bench/README.md).
//
// One e2e World (tests/e2e/support: the real daemon, a real sshd with pam_wrapper, the keys
// helper as AuthorizedKeysCommand) with --users members. Each iteration logs one member in
// twice, in alternating order: once with only the portal knowing the key (sshd runs the
// helper, which asks the daemon), once with the key also in <world>/keys/<user>.keys, which
// sshd reads before it would run the helper. Everything else (PAM stack with pam_portal.so,
// the daemon running) is the same, so the ratio is "keys from portal-keyd" vs "static file".
// Root only; it enters a private mount namespace like e2e_tests. Exits 77 when this machine
// cannot run it (CTest's skip code).
#include <benchmark/benchmark.h>
// The World's support code reports sanitizer findings through Catch: its implementation
// (tests/catch_impl.cpp) is linked in, without a test session (nothing reaches it outside
// sanitizer builds).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/support.h"
#include "tests/e2e/support/environment.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;
using portal::bench::median;
using portal::bench::now_seconds;
namespace fs = std::filesystem;

namespace {

int g_users = 20;
int g_keys = 1;  // accepted for symmetry with the other benchmarks; each member has one key

struct Setup {
    std::unique_ptr<World> world;
    std::vector<Member> members;
};

std::unique_ptr<Setup> g_setup;  // made by the first benchmark that needs it, ended in main

Setup& setup() {
    if (!g_setup) {
        g_setup = std::make_unique<Setup>();
        g_setup->world = std::make_unique<World>("ssh-login-bench");
        for (int i = 0; i < g_users; ++i)
            g_setup->members.push_back(
                g_setup->world->add_member("bench" + std::to_string(i) + "@example.com", "manager"));
    }
    return *g_setup;
}

// One login and `true`; its wall time in seconds, or a negative number on failure.
double timed_login(World& w, const Member& m) {
    const double t0 = now_seconds();
    auto c = w.client();
    const auto r = c->login({m.unix_name, m.key, {}});
    if (!r.ok()) return -1;
    const auto e = c->exec("true");
    c->disconnect();
    if (e.exit_status != 0) return -1;
    return now_seconds() - t0;
}

void BM_Login(benchmark::State& st) {
    Setup& s = setup();
    World& w = *s.world;
    // The member the daemon published last (any would do: its look-ups are hash-map finds).
    const Member& m = s.members.back();
    const fs::path static_file = w.dir() / "keys" / (m.unix_name + ".keys");
    // Until the member resolves and its key works through the helper.
    if (!wait_until([&] { return timed_login(w, m) > 0; }, std::chrono::seconds(10))) {
        st.SkipWithError(("the member cannot log in:\n" + w.diagnostics()).c_str());
        return;
    }
    std::vector<double> portal, file;
    bool portal_first = true;
    for (auto _ : st) {
        double p = 0, f = 0;
        for (int turn = 0; turn < 2; ++turn) {
            if ((turn == 0) == portal_first) {
                std::error_code ec;
                fs::remove(static_file, ec);
                p = timed_login(w, m);
            } else {
                write_file(static_file, read_file(m.key.string() + ".pub"), 0644);
                f = timed_login(w, m);
            }
        }
        portal_first = !portal_first;
        if (p < 0 || f < 0) {
            st.SkipWithError(("a login failed:\n" + w.diagnostics()).c_str());
            break;
        }
        portal.push_back(p);
        file.push_back(f);
        st.SetIterationTime(p);
    }
    std::error_code ec;
    fs::remove(static_file, ec);
    st.counters["portal_ms"] = median(portal) * 1e3;
    st.counters["static_file_ms"] = median(file) * 1e3;
    st.counters["ratio"] = median(file) > 0 ? median(portal) / median(file) : 0;
    st.counters["users"] = g_users;
}

}  // namespace

int main(int argc, char** argv) {
    if (!portal::bench::take_size_flags(argc, argv, "ssh_login_bench", g_users, g_keys)) return 2;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    if (auto why = missing_prerequisite(); !why.empty()) {
        std::fprintf(stderr, "ssh_login_bench: SKIPPED: %s\n", why.c_str());
        return 77;
    }
    if (auto why = prepare_test_dir(); !why.empty()) {
        std::fprintf(stderr, "ssh_login_bench: %s\n", why.c_str());
        return 1;
    }
    if (auto why = enter_private_namespace(); !why.empty()) {
        std::fprintf(stderr, "ssh_login_bench: %s\n", why.c_str());
        return 1;
    }
    benchmark::RegisterBenchmark("SshLogin/portal_vs_static_file", BM_Login)->UseManualTime()->Unit(benchmark::kMillisecond);
    benchmark::RunSpecifiedBenchmarks();
    g_setup.reset();  // the World (daemon, sshd, mounts) ends here, not after main
    benchmark::Shutdown();
    return 0;
}
