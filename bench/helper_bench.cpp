// helper_bench: wall time of one call of sshd's AuthorizedKeysCommand helper
// (`authorized-keys -- USER UID [FINGERPRINT]`, as the drop-in's `-- %u %U %f`) against `cat` of an authorized_keys file holding the
// same user's keys, both fork+exec+wait with stdout read through a pipe as sshd does.
// The two run alternately in every iteration (which goes first alternates too), so load from
// other processes on the machine hits both alike; counters give medians and the ratio.
//
//   helper_bench [--users=N] [--keys=K] [google benchmark flags]
//
// Modes: online (the real portal-keyd answers on its login socket; store seeded as in
// api_bench) and fallback (no daemon: the helper reads the state directory of N members,
// written with shared/ipc/state_dir.h: the header and the member's own entry). The user
// looked up is the last member.
#include <benchmark/benchmark.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/spawner.h"
#include "bench/support.h"
#include "shared/ipc/state_dir.h"

namespace {

using namespace portal::bench;

int g_users = 10000;
int g_keys = 3;
bool g_failed = false;

const char* const kCat = "/bin/cat";

struct Env {
    TempDir dir;
    TempDir run;  // the runtime directory: on tmpfs when there is one, as /run is
    Seeded seed;
    Daemon daemon;
    const BenchUser* user = nullptr;
    fs::path authorized_keys;  // the user's keys, for cat
    fs::path fallback_state;   // a state directory no daemon touches
    bool online = false;       // the daemon serves the login socket
    std::string online_problem;

    Env()
        : dir(std::getenv("PORTAL_BENCH_TMP") ? std::getenv("PORTAL_BENCH_TMP") : PORTAL_BENCH_TMP, "helper"),
          run(runtime_base().empty() ? dir.path() : runtime_base(), "helper-run"),
          daemon(PORTAL_KEYD_BIN, dir.path(), run.path()) {
        std::fprintf(stderr, "helper_bench: seeding %d users x %d keys in %s\n", g_users, g_keys, dir.path().c_str());
        seed = seed_store(daemon.database(), g_users, g_keys);
        user = &seed.users.back();

        authorized_keys = dir.path() / "authorized_keys";
        {
            std::ofstream out(authorized_keys);
            for (const auto& k : user->keys) out << k.line << "\n";
        }
        ::chmod(authorized_keys.c_str(), 0600);

        fs::create_directories(dir.path() / "fallback");
        fallback_state = dir.path() / "fallback" / "login-state";
        std::string error;
        if (!portal::ipc::write_whole_state_dir(fallback_state.string(), login_state_of(seed),
                                                portal::ipc::StateFileMode{0600, {}, {}},
                                                portal::ipc::StateFileMode{0700, {}, {}}, error))
            throw std::runtime_error("write_whole_state_dir: " + error);

        const auto t = daemon.start();
        std::fprintf(stderr, "helper_bench: daemon answered after %.3f s\n", t.wall_s);
        online = fs::exists(daemon.login_socket());
        if (!online) online_problem = "the daemon does not serve " + daemon.login_socket().string();
    }

    std::vector<std::string> helper_env(bool use_daemon) const {
        // sshd runs the command with a clean environment; these two are for tests only.
        return {"PORTAL_KEYD_LOGIN_SOCKET=" +
                    (use_daemon ? daemon.login_socket() : dir.path() / "fallback" / "no-daemon.sock").string(),
                "PORTAL_KEYD_STATE_DIR=" + (use_daemon ? daemon.login_state_dir() : fallback_state).string()};
    }
};

std::unique_ptr<Env> g_env;
std::once_flag g_env_once;
std::string g_env_error;

void skip(benchmark::State& st, const std::string& why) {
    g_failed = true;
    st.SkipWithError(why.c_str());
}

Env* env(benchmark::State& st) {
    std::call_once(g_env_once, [] {
        try {
            g_env = std::make_unique<Env>();
        } catch (const std::exception& e) {
            g_env_error = e.what();
        }
    });
    if (!g_env) skip(st, "set-up failed: " + g_env_error);
    return g_env.get();
}

double mean(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0 : s / static_cast<double>(v.size());
}

std::size_t count_lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

enum class Mode { online, online_fingerprint, fallback, fallback_fingerprint, online_not_portal, online_write_storm };

// Clients looping API writes that change the login state (a member's role flips between
// manager and owner: a new revision, a refresh, userdb groups) while the helper is measured.
class WriteStorm {
public:
    WriteStorm(const Env& e, int clients) {
        for (int c = 0; c < clients; ++c)
            threads_.emplace_back([this, &e, c] {
                try {
                    HttpConnection conn(e.daemon.api_socket());
                    for (std::size_t i = 0; !stop_; ++i) {
                        // Members other than the owner (users[0]) and the measured user (last).
                        const auto& u = e.seed.users[1 + (i * 4 + static_cast<std::size_t>(c)) % (e.seed.users.size() - 2)];
                        const char* role = i % 2 ? "owner" : "manager";
                        auto r = conn.request("PUT", "/v1/account/users/" + u.id, std::string("{\"role\":\"") + role + "\"}",
                                              e.seed.account_id);
                        if (r.status != 200) throw std::runtime_error("PUT answered " + std::to_string(r.status));
                        ++writes_;
                    }
                } catch (const std::exception& ex) {
                    std::lock_guard lock(mu_);
                    error_ = ex.what();
                }
            });
    }
    ~WriteStorm() { stop(); }
    void stop() {
        stop_ = true;
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    std::size_t writes() const { return writes_; }
    std::string error() {
        std::lock_guard lock(mu_);
        return error_;
    }

private:
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> writes_{0};
    std::mutex mu_;
    std::string error_;
    std::vector<std::thread> threads_;
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// Reported time per iteration is the helper's; the counters hold both and the ratio.
// Forked first thing in main(), while this process is small (see bench/spawner.h).
std::unique_ptr<Spawner> g_spawner;

void BM_HelperVsCat(benchmark::State& st, Mode mode, bool from_small_process) {
    Env* e = env(st);
    if (!e) return;
    const auto spawn = [from_small_process](const std::vector<std::string>& argv,
                                                  const std::vector<std::string>& envp, std::string* out = nullptr) {
        return from_small_process ? g_spawner->run(argv, envp, out) : portal::bench::run_program(argv, envp, out);
    };
    const bool storm = mode == Mode::online_write_storm;
    const bool use_daemon = mode == Mode::online || mode == Mode::online_fingerprint ||
                            mode == Mode::online_not_portal || storm;
    if (use_daemon && !e->online) {
        skip(st, e->online_problem);
        return;
    }
    // As sshd runs it: the name and the uid sshd resolved (%U).
    std::vector<std::string> helper{AUTHORIZED_KEYS_BIN, "--"};
    if (mode == Mode::online_not_portal) helper.insert(helper.end(), {"root", "0"});
    else helper.insert(helper.end(), {e->user->unix_name, std::to_string(e->user->uid)});
    std::size_t want_lines = mode == Mode::online_not_portal ? 0 : e->user->keys.size();
    if (mode == Mode::online_fingerprint || mode == Mode::fallback_fingerprint) {
        helper.push_back(e->user->keys.back().sha256);  // as sshd's %f: only the offered key
        want_lines = 1;
    }
    auto henv = e->helper_env(use_daemon);
    // In the storm the fallback must not hide a slow daemon: no state directory, so a helper
    // that gave up on the daemon prints nothing and is counted.
    if (storm) henv.back() = "PORTAL_KEYD_STATE_DIR=" + (e->dir.path() / "no-state-dir").string();
    const std::vector<std::string> cat{kCat, e->authorized_keys.string()};

    // Once, untimed: both print what sshd should see.
    std::string out;
    auto r = spawn(helper, henv, &out);
    if (r.status != 0 || count_lines(out) != want_lines || (want_lines && out.rfind("ssh-ed25519 ", 0) != 0)) {
        skip(st, "helper printed " + std::to_string(count_lines(out)) + " lines (want " + std::to_string(want_lines) +
                     "), exit " + std::to_string(r.status));
        return;
    }
    std::string cat_out;
    spawn(cat, {}, &cat_out);
    if (count_lines(cat_out) != e->user->keys.size()) {
        skip(st, "cat printed an unexpected file");
        return;
    }

    std::vector<double> h, c, hcpu, ccpu;
    std::size_t missed = 0;  // storm: calls that printed no keys (the helper gave up on the daemon)
    std::unique_ptr<WriteStorm> writers;
    if (storm) writers = std::make_unique<WriteStorm>(*e, 4);
    try {
        bool helper_first = false;
        for (auto _ : st) {
            helper_first = !helper_first;
            RunResult rh, rc;
            std::string hout;
            if (helper_first) {
                rh = spawn(helper, henv, storm ? &hout : nullptr);
                rc = spawn(cat, {});
            } else {
                rc = spawn(cat, {});
                rh = spawn(helper, henv, storm ? &hout : nullptr);
            }
            if (storm && count_lines(hout) != want_lines) ++missed;
            if (rh.status != 0 || rc.status != 0) {
                skip(st, "a program failed");
                break;
            }
            h.push_back(rh.seconds);
            c.push_back(rc.seconds);
            hcpu.push_back(rh.cpu_seconds);
            ccpu.push_back(rc.cpu_seconds);
            st.SetIterationTime(rh.seconds);
        }
    } catch (const std::exception& ex) {
        skip(st, ex.what());
        return;
    }
    if (writers) {
        writers->stop();
        if (!writers->error().empty()) skip(st, "write storm: " + writers->error());
        st.counters["writes"] = static_cast<double>(writers->writes());
        st.counters["missed"] = static_cast<double>(missed);
        st.counters["helper_p99_ms"] = percentile(h, 0.99) * 1e3;
    }
    const double hm = median(h), cm = median(c);
    st.counters["helper_ms"] = hm * 1e3;
    st.counters["cat_ms"] = cm * 1e3;
    st.counters["helper_mean_ms"] = mean(h) * 1e3;
    st.counters["cat_mean_ms"] = mean(c) * 1e3;
    st.counters["ratio"] = cm > 0 ? hm / cm : 0;  // helper/cat, medians
    // CPU time (rusage, microsecond-ish resolution) is steadier than wall time on a busy
    // machine; means, since small values round to the kernel's accounting granularity.
    st.counters["helper_cpu_ms"] = mean(hcpu) * 1e3;
    st.counters["cat_cpu_ms"] = mean(ccpu) * 1e3;
}

// The floor: fork+exec+wait of a program that does nothing.
void BM_Exec(benchmark::State& st, const char* program) {
    for (auto _ : st) {
        auto r = run_program({program}, {});
        if (r.status != 0) {
            skip(st, std::string(program) + " failed");
            break;
        }
        st.SetIterationTime(r.seconds);
    }
}

}  // namespace

int main(int argc, char** argv) {
    g_spawner = std::make_unique<Spawner>();
    if (!take_size_flags(argc, argv, "helper_bench", g_users, g_keys)) return 2;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

    auto reg = [](const char* name, Mode m, bool from_small_process = false) {
        benchmark::RegisterBenchmark(name, BM_HelperVsCat, m, from_small_process)->UseManualTime()->Unit(benchmark::kMillisecond);
    };
    benchmark::RegisterBenchmark("Exec/true", BM_Exec, "/bin/true")->UseManualTime()->Unit(benchmark::kMillisecond);
    reg("HelperVsCat/online", Mode::online);
    reg("HelperVsCat/online_fingerprint", Mode::online_fingerprint);
    reg("HelperVsCat/online_not_portal_user", Mode::online_not_portal);
    reg("HelperVsCat/online_during_write_storm", Mode::online_write_storm);
    reg("HelperVsCat/fallback", Mode::fallback);
    reg("HelperVsCat/fallback_fingerprint", Mode::fallback_fingerprint);
    // The same two, both programs started from a small process as sshd starts the helper.
    reg("HelperVsCat/online_from_small_process", Mode::online, true);
    reg("HelperVsCat/fallback_from_small_process", Mode::fallback, true);

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    g_env.reset();
    g_spawner.reset();
    return g_failed ? 1 : 0;
}
