// api_bench: the real portal-keyd on a store with N users x K ed25519 keys (default
// 10,000 x 3). Measures the daemon's start-up (until the API socket answers), requests per
// second of GET /v1/account/users over keep-alive connections on the Unix socket (one
// connection, and one per client thread), and its memory (VmRSS/VmHWM) after serving.
//
//   api_bench [--users=N] [--keys=K] [google benchmark flags]
//
// The store is seeded directly through keyd/store (one transaction) before the daemon
// starts: through the API every write would fsync, and 40,000 writes would take minutes.
#include <algorithm>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/support.h"

namespace {

using namespace portal::bench;

int g_users = 10000;
int g_keys = 3;
bool g_failed = false;

struct Env {
    TempDir dir;
    TempDir run;  // the runtime directory: on tmpfs when there is one, as /run is
    Seeded seed;
    Daemon daemon;
    Daemon::StartInfo first_start;
    MemInfo after_start;  // right after the most recent start, before any listing

    Env()
        : dir(std::getenv("PORTAL_BENCH_TMP") ? std::getenv("PORTAL_BENCH_TMP") : PORTAL_BENCH_TMP, "api"),
          run(runtime_base().empty() ? dir.path() : runtime_base(), "api-run"),
          daemon(PORTAL_KEYD_BIN, dir.path(), run.path()) {
        std::fprintf(stderr, "api_bench: seeding %d users x %d keys in %s\n", g_users, g_keys, dir.path().c_str());
        seed = seed_store(daemon.database(), g_users, g_keys);
        std::fprintf(stderr, "api_bench: keys made in %.2f s, store written in %.2f s\n", seed.keygen_seconds,
                     seed.insert_seconds);
        first_start = daemon.start();
        after_start = mem_info(daemon.pid());
        std::fprintf(stderr, "api_bench: first start %.3f s (cpu %.2f s, waiting for a cpu %.2f s)\n",
                     first_start.wall_s, first_start.cpu_s, first_start.runq_wait_s);
    }
};

std::unique_ptr<Env> g_env;
std::once_flag g_env_once;
std::string g_env_error;

Env* env(benchmark::State& st) {
    std::call_once(g_env_once, [] {
        try {
            g_env = std::make_unique<Env>();
        } catch (const std::exception& e) {
            g_env_error = e.what();
        }
    });
    if (!g_env) {
        g_failed = true;
        st.SkipWithError(("set-up failed: " + g_env_error).c_str());
    }
    return g_env.get();
}

void skip(benchmark::State& st, const std::string& why) {
    g_failed = true;
    st.SkipWithError(why.c_str());
}

// Start-up: stop, (cold: remove the runtime directory with the state file and userdb
// drop-ins), start, until GET /v1/accounts answers. Only the start is timed.
void BM_StartUp(benchmark::State& st, bool cold) {
    Env* e = env(st);
    if (!e) return;
    double cpu = 0, wait = 0;
    try {
        for (auto _ : st) {
            e->daemon.stop();
            if (cold) fs::remove_all(e->daemon.runtime_dir());
            const auto info = e->daemon.start();
            st.SetIterationTime(info.wall_s);
            cpu += info.cpu_s;
            wait += info.runq_wait_s;
        }
        e->after_start = mem_info(e->daemon.pid());
    } catch (const std::exception& ex) {
        skip(st, ex.what());
        return;
    }
    // Wall time is the benchmark's time; on a busy machine most of it can be waiting for a CPU.
    st.counters["cpu_s"] = benchmark::Counter(cpu, benchmark::Counter::kAvgIterations);
    st.counters["runq_wait_s"] = benchmark::Counter(wait, benchmark::Counter::kAvgIterations);
    st.counters["first_start_s"] = e->first_start.wall_s;
    st.counters["first_start_cpu_s"] = e->first_start.cpu_s;
    st.counters["users"] = g_users;
    st.counters["keys"] = static_cast<double>(g_users) * g_keys;
}

// GET target over one keep-alive connection per benchmark thread. Threads never leave the
// loop early (Google Benchmark's threads meet at a barrier when it ends): after an error
// the remaining iterations do nothing.
void BM_List(benchmark::State& st, const std::string& target, int want_total) {
    Env* e = env(st);
    std::string problem = e ? "" : "set-up failed";
    std::unique_ptr<HttpConnection> conn;
    std::size_t bytes = 0;
    std::int64_t reconnects = 0;
    auto request = [&] {
        auto r = conn->get(target);
        if (r.status != 200) throw std::runtime_error("HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 200));
        if (r.close) {  // keep-alive refused: count it, carry on
            ++reconnects;
            conn = std::make_unique<HttpConnection>(e->daemon.api_socket());
        }
        return r;
    };
    if (e) {
        try {  // untimed: the daemon lists what we seeded
            conn = std::make_unique<HttpConnection>(e->daemon.api_socket());
            auto r = request();
            if (r.header("x-total") != std::to_string(want_total) || r.body.size() < 2)
                problem = "X-Total " + r.header("x-total") + ", want " + std::to_string(want_total);
            reconnects = 0;
        } catch (const std::exception& ex) {
            problem = ex.what();
        }
        if (!problem.empty()) skip(st, target + ": " + problem);
    }
    // The daemon serves everything on its main thread (one io_context thread): its CPU time
    // per request does not depend on how busy the machine is, unlike req/s.
    const double daemon_cpu0 = e ? cpu_info(e->daemon.pid()).main_thread_s : 0;
    for (auto _ : st) {
        if (!problem.empty()) continue;
        try {
            bytes += request().body.size();
        } catch (const std::exception& ex) {
            problem = ex.what();
            skip(st, target + ": " + problem);
        }
    }
    st.counters["req/s"] = benchmark::Counter(static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
    st.counters["body_KiB"] =
        benchmark::Counter(static_cast<double>(bytes) / 1024.0 /
                               static_cast<double>(std::max<benchmark::IterationCount>(1, st.iterations())),
                           benchmark::Counter::kAvgThreads);
    st.counters["reconnects"] = static_cast<double>(reconnects);
    if (e && st.thread_index() == 0)  // summed over threads: only one reports; divided by all requests
        st.counters["daemon_cpu_us/req"] = benchmark::Counter(
            (cpu_info(e->daemon.pid()).main_thread_s - daemon_cpu0) * 1e6, benchmark::Counter::kAvgIterations);
    st.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

// One change at a time (a member's role flips, or a member is deactivated and back), each
// followed by GET /v1/server: the daemon serves requests and refreshes on one thread, in
// order, so that answer comes once the change is in the login socket's snapshot, the userdb
// provider, the drop-ins and the state directory. Per change: the daemon's main-thread CPU
// (request, store write, refresh, the GET) and the wall time until the GET answered.
void BM_OneChange(benchmark::State& st, bool status) {
    Env* e = env(st);
    if (!e) return;
    std::vector<double> cpu_ms, visible_ms;
    try {
        HttpConnection conn(e->daemon.api_socket());
        std::size_t n = 0;
        for (auto _ : st) {
            // Spread over the account; the two cases on different members (never the first, the owner).
            const std::size_t size = e->seed.users.size();
            const auto& user = e->seed.users[1 + (n * 7919 + (status ? size / 2 : 0)) % (size - 1)];
            const bool back = (n / e->seed.users.size()) % 2 == 1;
            ++n;
            const std::string body = status ? (back ? R"({"status":"active"})" : R"({"status":"deactivated"})")
                                            : (back ? R"({"role":"manager"})" : R"({"role":"owner"})");
            const double cpu0 = cpu_info(e->daemon.pid()).main_thread_s;
            const double t0 = now_seconds();
            auto r = conn.request("PUT", "/v1/account/users/" + user.id, body);
            if (r.status != 200) throw std::runtime_error("PUT: HTTP " + std::to_string(r.status) + ": " + r.body);
            auto barrier = conn.get("/v1/server");
            if (barrier.status != 200) throw std::runtime_error("GET /v1/server: HTTP " + std::to_string(barrier.status));
            const double t1 = now_seconds();
            cpu_ms.push_back((cpu_info(e->daemon.pid()).main_thread_s - cpu0) * 1e3);
            visible_ms.push_back((t1 - t0) * 1e3);
            st.SetIterationTime(t1 - t0);
        }
    } catch (const std::exception& ex) {
        skip(st, ex.what());
        return;
    }
    auto pct = [](std::vector<double> v, double p) {
        if (v.empty()) return 0.0;
        std::sort(v.begin(), v.end());
        return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
    };
    st.counters["cpu_ms_p50"] = pct(cpu_ms, 0.5);
    st.counters["cpu_ms_p99"] = pct(cpu_ms, 0.99);
    st.counters["visible_ms_p50"] = pct(visible_ms, 0.5);
    st.counters["visible_ms_p99"] = pct(visible_ms, 0.99);
    st.counters["users"] = g_users;
}

// The daemon's memory after seeding, start-up and every listing above.
void BM_Memory(benchmark::State& st) {
    Env* e = env(st);
    if (!e) return;
    MemInfo m;
    for (auto _ : st) m = mem_info(e->daemon.pid());
    auto mib = [](long kib) { return static_cast<double>(kib) / 1024.0; };
    st.counters["VmRSS_MiB"] = mib(m.rss_kib);
    st.counters["VmHWM_MiB"] = mib(m.hwm_kib);
    st.counters["RSS_after_start_MiB"] = mib(e->after_start.rss_kib);
    std::error_code ec;
    st.counters["db_MiB"] = static_cast<double>(fs::file_size(e->daemon.database(), ec)) / 1048576.0;
    std::uintmax_t state_bytes = 0;  // the fallback directory: header and one file per member
    for (const auto& f : fs::directory_iterator(e->daemon.login_state_dir(), ec)) state_bytes += f.file_size(ec);
    st.counters["state_dir_MiB"] = static_cast<double>(state_bytes) / 1048576.0;
}

}  // namespace

int main(int argc, char** argv) {
    if (!take_size_flags(argc, argv, "api_bench", g_users, g_keys)) return 2;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

    // Registration order is run order: start-ups first (they restart the daemon), memory last.
    benchmark::RegisterBenchmark("StartUp/cold", BM_StartUp, true)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("StartUp/warm", BM_StartUp, false)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);

    const int last_page = (g_users + 99) / 100;
    char last_user[32];
    std::snprintf(last_user, sizeof last_user, "bench%05d", g_users - 1);  // as seed_store names them
    struct Target {
        const char* name;
        std::string target;
        int total;  // X-Total the daemon must answer
        bool threads;
    };
    const std::vector<Target> targets{
        {"ListUsers/default_page", "/v1/account/users", g_users, true},
        {"ListUsers/per_page_100", "/v1/account/users?per_page=100", g_users, true},
        {"ListUsers/last_page_100", "/v1/account/users?per_page=100&page=" + std::to_string(last_page), g_users, false},
        {"ListUsers/search_one", std::string("/v1/account/users?search_pattern=") + last_user, 1, false},
    };
    for (const auto& t : targets) {
        auto* b = benchmark::RegisterBenchmark(t.name, BM_List, t.target, t.total)
                      ->UseRealTime()
                      ->Unit(benchmark::kMicrosecond);
        if (t.threads) b->Threads(1)->Threads(2)->Threads(4)->Threads(8);
    }
    benchmark::RegisterBenchmark("OneChange/role", BM_OneChange, false)->UseManualTime()->Iterations(100)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("OneChange/deactivate", BM_OneChange, true)->UseManualTime()->Iterations(100)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("DaemonMemory", BM_Memory)->Iterations(1);

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    g_env.reset();  // stops the daemon, removes the temp dir
    return g_failed ? 1 : 0;
}
