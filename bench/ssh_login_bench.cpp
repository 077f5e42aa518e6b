// ssh_login_bench: a whole SSH login through portal-keyd versus the same sshd reading the
// same key from a static AuthorizedKeysFile, with libssh and with OpenSSH's ssh; a local
// user's login and `id` next to an account of --users members (bench/README.md).
//
// One e2e World (tests/e2e/support: the real daemon, a real sshd with pam_wrapper, the keys
// helper as AuthorizedKeysCommand, real nss-systemd in a private mount namespace). The
// account is seeded into the World's store before the daemon first starts (--users - 1
// members with --keys keys each, one transaction: through the API 10,000 members would take
// minutes), then one member with a real key is added through the API. Each portal-vs-file
// iteration logs that member in twice, in alternating order: once with only the portal
// knowing the key (sshd runs the helper, which asks the daemon), once with the key also in
// <world>/keys/<user>.keys, which sshd reads before it would run the helper. Everything else
// (PAM stack with pam_portal.so, the daemon running) is the same, so the ratio is "keys from
// portal-keyd" vs "static file". The local-user figures are meant to be compared between a
// run with --users=2 and one with --users=10000: a local user must not notice the account.
// Root only; it enters a private mount namespace like e2e_tests. Exits 77 when this machine
// cannot run it (CTest's skip code), 1 when a benchmark reported an error (a login failed).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>
// The World's support code reports sanitizer findings through Catch: its implementation
// (tests/catch_impl.cpp) is linked in, without a test session (nothing reaches it outside
// sanitizer builds).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/support.h"
#include "shared/ipc/unique_fd.h"
#include "tests/e2e/support/environment.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;
using portal::bench::median;
using portal::bench::now_seconds;
namespace fs = std::filesystem;

namespace {

int g_users = 20;  // the account's size: seeded members plus the one added through the API
int g_keys = 3;    // keys per seeded member (the API member has one real key)

const std::string kLocalUser = "benchlocal";  // exists only in the namespace's /etc/passwd

struct Setup {
    std::unique_ptr<World> world;
    Member member;        // added through the API, with a key libssh and ssh can use
    fs::path local_key;   // the local user's, listed in <world>/keys/benchlocal.keys
    int seeded = 0;
    double seed_s = 0;          // the store transaction (and key generation)
    double daemon_start_s = 0;  // first start on the seeded store until it answers
};

std::unique_ptr<Setup> g_setup;  // made by the first benchmark that needs it, ended in main
bool g_failed = false;           // a benchmark reported an error: the exit code says so (smoke runs)

void fail(benchmark::State& st, const std::string& why) {
    g_failed = true;
    st.SkipWithError(why.c_str());
}

struct SeedResult {
    std::string account_id;
    double seconds = 0;
};

// seed_store in a child process: this one forks every `id` and `ssh` it times, and a fork
// followed by exec costs more the more memory the parent has mapped (the seed and SQLite's
// cache would add ~35 MiB at 10,000 members: +1 ms per `id`, a size effect that is ours, not
// the daemon's).
SeedResult seed_in_child(const fs::path& database, int users, int keys, portal::store::UidRange uids) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    portal::ipc::UniqueFd read_end(fds[0]), write_end(fds[1]);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        read_end.reset();
        std::string out;
        int code = 0;
        try {
            const auto seed = portal::bench::seed_store(database, users, keys, uids);
            out = seed.account_id + "\n" + std::to_string(seed.keygen_seconds + seed.insert_seconds);
        } catch (const std::exception& e) {
            out = std::string("seeding failed: ") + e.what();
            code = 1;
        }
        for (std::size_t at = 0; at < out.size();) {
            const ssize_t n = ::write(write_end.get(), out.data() + at, out.size() - at);
            if (n <= 0) break;
            at += static_cast<std::size_t>(n);
        }
        ::_exit(code);
    }
    write_end.reset();
    std::string got;
    char buf[512];
    for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof buf)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const auto newline = got.find('\n');
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || newline == std::string::npos)
        throw std::runtime_error(got.empty() ? "seeding child failed" : got);
    return {got.substr(0, newline), std::strtod(got.c_str() + newline + 1, nullptr)};
}

Setup& setup() {
    if (g_setup) return *g_setup;
    auto s = std::make_unique<Setup>();
    WorldOptions o;
    o.start = false;
    o.extra_local_users = {kLocalUser};
    o.uid_count = static_cast<std::uint32_t>(g_users) + 100;
    o.daemon_start_timeout = std::chrono::minutes(5);
    s->world = std::make_unique<World>("ssh-login-bench", o);
    World& w = *s->world;
    fs::create_directories(w.database().parent_path());
    ::chmod(w.database().parent_path().c_str(), 0700);
    s->seeded = std::max(g_users - 1, 0);
    const auto seed = seed_in_child(w.database(), s->seeded, g_keys, {w.uid_min(), w.uid_max()});
    s->seed_s = seed.seconds;
    const double t0 = now_seconds();
    w.start_daemon();  // it serves the oldest (here the only) account
    s->daemon_start_s = now_seconds() - t0;
    w.use_account(seed.account_id);
    w.start_sshd();
    s->member = w.add_member("login0@example.com", "manager");
    s->local_key = w.make_key(kLocalUser);
    write_file(w.dir() / "keys" / (kLocalUser + ".keys"), read_file(s->local_key.string() + ".pub"), 0644);
    g_setup = std::move(s);
    return *g_setup;
}

// One login and `true`; its wall time in seconds, or a negative number on failure.
using LoginFn = double (*)(World&, const std::string& user, const fs::path& key);

double libssh_login(World& w, const std::string& user, const fs::path& key) {
    const double t0 = now_seconds();
    auto c = w.client();
    const auto r = c->login({user, key, {}});
    if (!r.ok()) return -1;
    const auto e = c->exec("true");
    c->disconnect();
    if (e.exit_status != 0) return -1;
    return now_seconds() - t0;
}

// OpenSSH's ssh as a user runs it: one process, connect to `true`'s exit.
double openssh_login(World& w, const std::string& user, const fs::path& key) {
    const double t0 = now_seconds();
    const auto r = w.openssh(user, key, "true");
    if (r.status != 0) return -1;
    return now_seconds() - t0;
}

// Medians in ms.
void report_medians(benchmark::State& st, const char* a_name, const std::vector<double>& a, const char* b_name,
                    const std::vector<double>& b) {
    st.counters[a_name] = median(a) * 1e3;
    st.counters[b_name] = median(b) * 1e3;
    st.counters["users"] = g_users;
}

// CPU time (user + system) of the children `pid` has reaped: for sshd's listener, every
// finished connection with its session, PAM modules and the keys helper. Clock ticks (10 ms)
// in seconds; -1 when unreadable.
double reaped_children_cpu_s(pid_t pid) {
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream rest(stat.substr(close + 2));  // from field 3 (state)
    std::string field;
    double cutime = -1, cstime = -1;
    for (int n = 3; n <= 17 && rest >> field; ++n) {
        if (n == 16) cutime = std::strtod(field.c_str(), nullptr);
        if (n == 17) cstime = std::strtod(field.c_str(), nullptr);
    }
    if (cutime < 0 || cstime < 0) return -1;
    return (cutime + cstime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::size_t entries_in(const fs::path& dir) {
    std::error_code ec;
    std::size_t n = 0;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
    return n;
}

// The member with its key from the portal vs from a static file, alternating which goes first.
void portal_vs_static_file(benchmark::State& st, LoginFn login) {
    Setup& s = setup();
    World& w = *s.world;
    const Member& m = s.member;
    const fs::path static_file = w.dir() / "keys" / (m.unix_name + ".keys");
    // Until the member resolves and its key works through the helper.
    if (!wait_until([&] { return login(w, m.unix_name, m.key) > 0; }, std::chrono::seconds(10))) {
        fail(st, "the member cannot log in:\n" + w.diagnostics());
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
                p = login(w, m.unix_name, m.key);
            } else {
                write_file(static_file, read_file(m.key.string() + ".pub"), 0644);
                f = login(w, m.unix_name, m.key);
            }
        }
        portal_first = !portal_first;
        if (p < 0 || f < 0) {
            fail(st, "a login failed:\n" + w.diagnostics());
            break;
        }
        portal.push_back(p);
        file.push_back(f);
        st.SetIterationTime(p);
    }
    std::error_code ec;
    fs::remove(static_file, ec);
    report_medians(st, "portal_ms", portal, "static_file_ms", file);
    st.counters["ratio"] = median(file) > 0 ? median(portal) / median(file) : 0;
}

void BM_LibsshPortalVsFile(benchmark::State& st) { portal_vs_static_file(st, libssh_login); }
void BM_OpensshPortalVsFile(benchmark::State& st) { portal_vs_static_file(st, openssh_login); }

// A local user (static AuthorizedKeysFile; pam_portal.so only says "not a member"), logged in
// with libssh and with ssh, alternating which goes first.
void BM_LocalUserLogin(benchmark::State& st) {
    Setup& s = setup();
    World& w = *s.world;
    std::vector<double> lib, open;
    bool lib_first = true;
    const double sshd_cpu0 = reaped_children_cpu_s(w.sshd_pid());
    const double daemon_cpu0 = portal::bench::cpu_info(w.daemon_pid()).cpu_s;
    for (auto _ : st) {
        double l = 0, o = 0;
        for (int turn = 0; turn < 2; ++turn) {
            if ((turn == 0) == lib_first) l = libssh_login(w, kLocalUser, s.local_key);
            else o = openssh_login(w, kLocalUser, s.local_key);
        }
        lib_first = !lib_first;
        if (l < 0 || o < 0) {
            fail(st, "the local user's login failed:\n" + w.diagnostics());
            break;
        }
        lib.push_back(l);
        open.push_back(o);
        st.SetIterationTime(o);
    }
    report_medians(st, "openssh_ms", open, "libssh_ms", lib);
    // Per login, both clients together (the last connection may not be reaped yet: a
    // slight undercount that fades with the iteration count).
    const double logins = 2.0 * static_cast<double>(lib.size());
    if (logins > 0) {
        st.counters["sshd_cpu_ms/login"] = (reaped_children_cpu_s(w.sshd_pid()) - sshd_cpu0) / logins * 1e3;
        st.counters["daemon_cpu_ms/login"] =
            (portal::bench::cpu_info(w.daemon_pid()).cpu_s - daemon_cpu0) / logins * 1e3;
    }
}

// `id <user>` (passwd, groups through initgroups: nss-systemd asks the drop-ins and the
// daemon's provider) of the local user and of the member, as a shell would run it.
void BM_Id(benchmark::State& st) {
    Setup& s = setup();
    World& w = *s.world;
    const std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
    // Wall time; its own CPU time (user + system, from wait4) into `cpu`.
    auto id_of = [&](const std::string& user, double& cpu) {
        const auto r = portal::bench::run_program({"/usr/bin/id", user}, env);
        cpu = r.cpu_seconds;
        return r.status == 0 ? r.seconds : -1.0;
    };
    double cpu = 0;
    if (!wait_until([&] { return id_of(s.member.unix_name, cpu) > 0; }, std::chrono::seconds(10))) {
        fail(st, "`id` does not know the member:\n" + w.diagnostics());
        return;
    }
    std::vector<double> local, member, local_cpu, member_cpu;
    bool local_first = true;
    for (auto _ : st) {
        double l = 0, m = 0, lc = 0, mc = 0;
        for (int turn = 0; turn < 2; ++turn) {
            if ((turn == 0) == local_first) l = id_of(kLocalUser, lc);
            else m = id_of(s.member.unix_name, mc);
        }
        local_first = !local_first;
        if (l < 0 || m < 0) {
            fail(st, "`id` failed");
            break;
        }
        local.push_back(l);
        member.push_back(m);
        local_cpu.push_back(lc);
        member_cpu.push_back(mc);
        st.SetIterationTime(l);
    }
    report_medians(st, "id_local_ms", local, "id_member_ms", member);
    // Less sensitive to what else runs on the machine than the wall time.
    st.counters["id_local_cpu_ms"] = median(local_cpu) * 1e3;
    st.counters["id_member_cpu_ms"] = median(member_cpu) * 1e3;
    st.counters["userdb_entries"] = static_cast<double>(entries_in("/run/userdb"));
    st.counters["daemon_VmHWM_MiB"] = static_cast<double>(portal::bench::mem_info(w.daemon_pid()).hwm_kib) / 1024.0;
}

// `getent passwd <member>` (a seeded member with no drop-in: the daemon's provider answers
// on its login thread) while 4 clients loop role changes through the API, as issue 9's write
// storm: the look-up must not wait for the writes (p99 < 10 ms).
void BM_GetentDuringStorm(benchmark::State& st) {
    Setup& s = setup();
    World& w = *s.world;
    // id, unix name: the managers when first asked (an owner flipped to manager could be the
    // last owner). Kept: Google Benchmark calls this more than once, and the writers of the
    // first call leave some of them owners.
    static std::vector<std::pair<std::string, std::string>> members;
    if (members.empty()) {
        const auto listing = w.api().call("GET", "/v1/account/users?per_page=100", std::nullopt, 0, w.account_id());
        if (listing.json.is_array())
            for (const auto& u : listing.json)
                if (u.value("role", "") == "manager") members.emplace_back(u.value("id", ""), u.value("unix_name", ""));
        if (members.empty()) {
            fail(st, "no manager listed: " + listing.body.substr(0, 300));
            return;
        }
    }
    const std::string looked_up = members.back().second;
    const std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
    std::atomic<bool> stop{false};
    std::atomic<long> writes{0}, write_errors{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t)
        writers.emplace_back([&, t] {
            for (std::size_t n = static_cast<std::size_t>(t); !stop; n += 4) {
                const auto& id = members[n % members.size()].first;
                const char* role = (n / members.size()) % 2 ? "manager" : "owner";
                const auto r = w.api().call("PUT", "/v1/account/users/" + id, nlohmann::json{{"role", role}}, 0,
                                            w.account_id());
                (r.status == 200 ? writes : write_errors)++;
            }
        });
    std::vector<double> getent;
    long failed = 0;
    for (auto _ : st) {
        const auto r = portal::bench::run_program({"/usr/bin/getent", "passwd", looked_up}, env);
        if (r.status != 0) ++failed;
        getent.push_back(r.seconds);
        st.SetIterationTime(r.seconds);
    }
    stop = true;
    for (auto& t : writers) t.join();
    std::sort(getent.begin(), getent.end());
    auto at = [&](double p) {
        return getent.empty() ? 0.0 : getent[std::min(getent.size() - 1, static_cast<std::size_t>(p * static_cast<double>(getent.size())))];
    };
    st.counters["getent_ms"] = at(0.5) * 1e3;
    st.counters["getent_p99_ms"] = at(0.99) * 1e3;
    st.counters["getent_failed"] = static_cast<double>(failed);
    st.counters["writes"] = static_cast<double>(writes.load());
    st.counters["write_errors"] = static_cast<double>(write_errors.load());
    if (failed > 0) fail(st, "getent did not find the member " + std::to_string(failed) + " times");
}

// What the figures above ran on, once the benchmarks are done.
void print_summary() {
    if (!g_setup) return;
    const Setup& s = *g_setup;
    const std::size_t dropins = entries_in("/run/userdb");
    const auto mem = portal::bench::mem_info(s.world->daemon_pid());
    const auto self = portal::bench::mem_info(::getpid());
    std::fprintf(stderr, "ssh_login_bench: this process: VmRSS %.1f MiB, VmHWM %.1f MiB\n",
                 static_cast<double>(self.rss_kib) / 1024.0, static_cast<double>(self.hwm_kib) / 1024.0);
    std::fprintf(stderr,
                 "ssh_login_bench: %d members (%d seeded x %d keys in %.2f s, 1 through the API); daemon's first "
                 "start %.2f s; /run/userdb holds %zu entries; daemon VmRSS %.1f MiB, VmHWM %.1f MiB\n",
                 g_users, s.seeded, g_keys, s.seed_s, s.daemon_start_s, dropins,
                 static_cast<double>(mem.rss_kib) / 1024.0, static_cast<double>(mem.hwm_kib) / 1024.0);
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
    benchmark::RegisterBenchmark("SshLogin/portal_vs_static_file", BM_LibsshPortalVsFile)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("SshLogin/openssh/portal_vs_static_file", BM_OpensshPortalVsFile)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("SshLogin/local_user", BM_LocalUserLogin)->UseManualTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("Id/local_vs_member", BM_Id)->UseManualTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("Storm/getent_member", BM_GetentDuringStorm)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RunSpecifiedBenchmarks();
    print_summary();
    g_setup.reset();  // the World (daemon, sshd, mounts) ends here, not after main
    benchmark::Shutdown();
    return g_failed ? 1 : 0;
}
