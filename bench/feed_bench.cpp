// The authority's IAM feed under a fleet (issue 10): --polls long-polls (default 1,000, one
// TLS connection each, libcurl multi) wait on GET /v1/iam/changes?wait=300 of one account of
// --users members x 3 keys; --changes times (default 100) one SSH key is added over the API.
// Per change: the time from the commit (the API answered) until every poll has been answered
// with it, the bytes of one answer, and the daemon's CPU for the whole round (the write, waking
// and answering every poll, their re-arming: the daemon's main thread, where the API and the
// listeners run). Then the daemon's RSS and peak RSS.
//
//   feed_bench [--users=N] [--polls=N] [--changes=N]
#include <sys/resource.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <functional>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/support.h"
#include "keyd/iam/authority/tokens.h"
#include "keyd/store/store.h"

using namespace portal::bench;

namespace {

struct Poll {
    CURL* easy = nullptr;
    std::string body;
    std::string url;
    curl_slist* headers = nullptr;
    std::uint64_t answered_revision = 0;
    double answered_at = 0;
    double bytes = 0;
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<Poll*>(user)->body.append(data, size * n);
    return size * n;
}

}  // namespace

int main(int argc, char** argv) {
    const long users = flag_value(argc, argv, "users", 10000);
    const long polls = flag_value(argc, argv, "polls", 1000);
    const long changes = flag_value(argc, argv, "changes", 100);
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    try {
        TempDir dir(PORTAL_BENCH_TMP, "feed");
        Daemon daemon(PORTAL_KEYD_BIN, dir.path(), runtime_base().empty() ? fs::path() : runtime_base() / "feed-run",
                      "[listen]\nhttps = \"127.0.0.1:0\"\nmax_connections = " + std::to_string(polls + 100) +
                          "\nmax_connections_per_address = " + std::to_string(polls + 100) +
                          "\nrequests_per_minute_per_address = 1000000\nrequests_per_minute_per_credential = 1000000\n");
        fs::create_directories(daemon.state_dir());
        const Seeded seed = seed_store(daemon.database(), static_cast<int>(users), 3);
        // One enrolled host whose token every poll uses (its budget is lifted above).
        const std::string host_token = seed_host(daemon.database(), seed.account_id);
        daemon.start();
        HttpConnection api(daemon.api_socket());
        const auto server = nlohmann::json::parse(api.request("GET", "/v1/server", "", seed.account_id).body);
        const std::string address = server.at("https").at("listening").at(0);
        std::uint64_t revision = server.at("revision");

        CURLM* multi = curl_multi_init();
        curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, polls + 10);
        std::vector<Poll> all(static_cast<std::size_t>(polls));
        const std::string auth = "Authorization: Bearer " + host_token;
        auto arm = [&](Poll& p) {
            curl_multi_remove_handle(multi, p.easy);
            p.body.clear();
            p.url = "https://" + address + "/v1/iam/changes?since=" + std::to_string(revision) + "&wait=300&profiles=1";
            curl_easy_setopt(p.easy, CURLOPT_URL, p.url.c_str());
            curl_multi_add_handle(multi, p.easy);
        };
        for (auto& p : all) {
            p.easy = curl_easy_init();
            p.headers = curl_slist_append(nullptr, auth.c_str());
            curl_easy_setopt(p.easy, CURLOPT_HTTPHEADER, p.headers);
            curl_easy_setopt(p.easy, CURLOPT_PINNEDPUBLICKEY, server.at("https").at("pin").get<std::string>().c_str());
            curl_easy_setopt(p.easy, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(p.easy, CURLOPT_SSL_VERIFYHOST, 0L);
            curl_easy_setopt(p.easy, CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(p.easy, CURLOPT_WRITEDATA, &p);
            curl_easy_setopt(p.easy, CURLOPT_PRIVATE, &p);
            curl_easy_setopt(p.easy, CURLOPT_TIMEOUT, 400L);
            arm(p);
        }
        // Runs the transfers until `done` says stop (or `seconds` pass).
        auto pump = [&](double seconds, const std::function<bool()>& done) {
            const double until = now_seconds() + seconds;
            int running = 0;
            while (now_seconds() < until && !done()) {
                curl_multi_perform(multi, &running);
                int left = 0;
                while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
                    if (m->msg != CURLMSG_DONE) continue;
                    Poll* p = nullptr;
                    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&p));
                    long status = 0;
                    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
                    if (m->data.result != CURLE_OK || status != 200)
                        throw std::runtime_error("poll failed: " + std::string(curl_easy_strerror(m->data.result)) +
                                                 " HTTP " + std::to_string(status) + " " + p->body);
                    p->answered_at = now_seconds();
                    p->answered_revision = nlohmann::json::parse(p->body).at("revision");
                    p->bytes = static_cast<double>(p->body.size());
                }
                curl_multi_poll(multi, nullptr, 0, 20, nullptr);
            }
        };
        // Every poll connected and waiting: let the handshakes and requests through.
        pump(std::min(10.0, 1.0 + static_cast<double>(polls) / 200.0), [] { return false; });

        std::vector<double> all_answered_ms, first_answered_ms, cpu_ms, bytes;
        for (long c = 0; c < changes; ++c) {
            const auto& user = seed.users[1 + static_cast<std::size_t>(c * 7919) % (seed.users.size() - 1)];
            const double cpu0 = cpu_info(daemon.pid()).main_thread_s;
            auto r = api.request("POST", "/v1/ssh_keys",
                                 nlohmann::json{{"name", "bench-" + std::to_string(c)},
                                                {"public_key", bench_key_line(c)},
                                                {"user_id", user.id}}
                                     .dump(),
                                 seed.account_id);
            const double committed = now_seconds();
            if (r.status != 201) {
                throw std::runtime_error("POST /v1/ssh_keys: HTTP " + std::to_string(r.status) + " " + r.body);
            }
            const std::uint64_t target = revision + 1;
            pump(30.0, [&] {
                return std::all_of(all.begin(), all.end(), [&](const Poll& p) { return p.answered_revision >= target; });
            });
            double last = 0, first = 1e18;
            for (const auto& p : all) {
                if (p.answered_revision < target) throw std::runtime_error("a poll was not answered within 30 s");
                last = std::max(last, p.answered_at);
                first = std::min(first, p.answered_at);
            }
            all_answered_ms.push_back((last - committed) * 1e3);
            first_answered_ms.push_back((first - committed) * 1e3);
            bytes.push_back(all.front().bytes);
            revision = target;
            for (auto& p : all) arm(p);
            pump(0.3, [] { return false; });  // re-armed polls reach the daemon
            cpu_ms.push_back((cpu_info(daemon.pid()).main_thread_s - cpu0) * 1e3);
        }
        const MemInfo mem = mem_info(daemon.pid());
        std::printf("feed_bench: %ld members x 3 keys, %ld long-polls, %ld changes (one SSH key each)\n", users, polls,
                    changes);
        std::printf("  commit -> all %ld polls answered: p50 %.1f ms, p99 %.1f ms (first answer p50 %.1f ms)\n", polls,
                    percentile(all_answered_ms, 0.5), percentile(all_answered_ms, 0.99), percentile(first_answered_ms, 0.5));
        std::printf("  bytes of one answer (body): p50 %.0f, max %.0f\n", percentile(bytes, 0.5), percentile(bytes, 1.0));
        std::printf("  daemon CPU per change (write + %ld answers + re-arming): p50 %.1f ms, p99 %.1f ms\n", polls,
                    percentile(cpu_ms, 0.5), percentile(cpu_ms, 0.99));
        std::printf("  daemon VmRSS %.1f MiB, VmHWM %.1f MiB\n", static_cast<double>(mem.rss_kib) / 1024.0,
                    static_cast<double>(mem.hwm_kib) / 1024.0);
        for (auto& p : all) {
            curl_multi_remove_handle(multi, p.easy);
            curl_easy_cleanup(p.easy);
            curl_slist_free_all(p.headers);
        }
        curl_multi_cleanup(multi);
        daemon.stop();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "feed_bench: %s\n", e.what());
        return 1;
    }
    curl_global_cleanup();
    return 0;
}
