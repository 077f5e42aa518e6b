// login_view_bench: the daemon's in-process costs at start-up and per login, moved here from
// unit tests that asserted wall-clock budgets (flaky on a loaded CI machine; the tests keep
// their behavioural checks): loading every member and key from the store, building the
// login state from it, and one key lookup in the LoginService. Design budget: 1 s for a
// whole start-up with 10,000 members x 3 keys (DESIGN.md), unsanitized.
//
//   login_view_bench [--users=N] [--keys=K] [google benchmark flags]
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "bench/support.h"
#include "keyd/log/log.h"
#include "keyd/login/login_service.h"
#include "keyd/login/login_view.h"
#include "keyd/store/store.h"
#include "keyd/tfa/secret_box.h"
#include "keyd/tfa/tfa_service.h"

namespace {

using namespace portal;
using namespace portal::bench;

int g_users = 10000;
int g_keys = 3;

struct Env {
    TempDir dir{std::getenv("PORTAL_BENCH_TMP") ? std::getenv("PORTAL_BENCH_TMP") : PORTAL_BENCH_TMP, "login-view"};
    Seeded seed;
    std::unique_ptr<store::Store> store;

    Env() {
        std::fprintf(stderr, "login_view_bench: seeding %d users x %d keys in %s\n", g_users, g_keys, dir.path().c_str());
        seed = seed_store(dir.path() / "portal.db", g_users, g_keys);
        store = store::Store::open(dir.path() / "portal.db");
    }
};

Env& env() {
    static Env e;
    return e;
}

void BM_StoreLoad(benchmark::State& st) {
    auto& e = env();
    for (auto _ : st) {
        auto users = e.store->memberships().all(e.seed.account_id);
        auto keys = e.store->ssh_keys().all(e.seed.account_id);
        if (users.size() != static_cast<std::size_t>(g_users)) st.SkipWithError("wrong member count");
        benchmark::DoNotOptimize(keys);
    }
}

void BM_BuildLoginState(benchmark::State& st) {
    auto& e = env();
    login::ViewSettings settings;
    for (auto _ : st) {
        auto state = login::build_login_state(*e.store, settings, 0);
        if (state.members.size() != static_cast<std::size_t>(g_users)) st.SkipWithError("wrong member count");
        benchmark::DoNotOptimize(state);
    }
}

// One change (a member's role flips) applied to a view of the whole account: the store write
// is not timed, the view's refresh (change log read, point reads, the member moved in place)
// is. The cost must not depend on the account's size.
void BM_IncrementalApply(benchmark::State& st) {
    auto& e = env();
    login::IncrementalLoginView view;
    view.set_settings(login::ViewSettings{e.seed.account_id, {Role::owner, Role::manager}, std::chrono::seconds(60)});
    view.refresh(*e.store, 0);
    std::size_t i = 0;
    for (auto _ : st) {
        st.PauseTiming();
        const auto& user = e.seed.users[1 + (i++ * 7) % (e.seed.users.size() - 1)];
        const Role role = i % 2 ? Role::owner : Role::manager;
        e.store->memberships().put(Membership{e.seed.account_id, user.id, role, MemberStatus::active, "", ""});
        st.ResumeTiming();
        const auto& state = view.refresh(*e.store, 0);
        if (state.members.size() != static_cast<std::size_t>(g_users)) st.SkipWithError("wrong member count");
    }
    if (view.stats().full_builds != 1) st.SkipWithError("the view rebuilt instead of applying");
}

void BM_KeyLookup(benchmark::State& st) {
    auto& e = env();
    auto clock = [] { return std::chrono::system_clock::now(); };
    tfa::TfaService tfa(*e.store, SecretBox::load_or_create(e.dir.path() / "tfa.key"), {}, clock);
    login::LoginService service(*e.store, tfa, "bench", clock);
    service.update(std::make_shared<const ipc::LoginState>(login::build_login_state(*e.store, {}, 0)));
    std::size_t i = 0;
    for (auto _ : st) {
        const auto& user = e.seed.users[(i++ * 7) % e.seed.users.size()];
        auto reply = service.get_authorized_keys({user.unix_name, std::nullopt});
        if (reply.keys.size() != static_cast<std::size_t>(g_keys)) st.SkipWithError("wrong key count");
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (!take_size_flags(argc, argv, "login_view_bench", g_users, g_keys)) return 2;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    portal::log::init(portal::log::Level::warning);  // a log line per lookup would be the measurement
    benchmark::RegisterBenchmark("StoreLoad/all_members_and_keys", BM_StoreLoad)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("BuildLoginState", BM_BuildLoginState)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("IncrementalLoginView/one_change", BM_IncrementalApply)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("LoginService/get_authorized_keys", BM_KeyLookup)->Unit(benchmark::kMicrosecond);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
