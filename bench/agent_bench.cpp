// An agent following its authority (issue 11): a real authority with --users members x 3 keys
// and one enrolled host; a real agent daemon following it over TLS (pinned key, host token).
// Measured: the agent's first sync (start until it serves the authority's revision); per
// change (--changes, default 100: keys added, members deactivated and reactivated, Enforce
// 2FA switched), the time from the authority's commit (its API answered) until the agent's
// login socket answers with it (what its sshd asks); the bytes of one change on the wire (the
// feed's answer, body and headers); the agent's idle CPU while long-polling with no changes
// (--idle-seconds, extrapolated to an hour) and its RSS.
//
//   agent_bench [--users=N] [--changes=N] [--idle-seconds=N]
#include <curl/curl.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/support.h"
#include "shared/ipc/login_client.h"

using namespace portal::bench;

namespace {

std::size_t keep(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

// GET over HTTPS with the host token: body and header bytes of the answer.
std::pair<std::size_t, std::size_t> feed_answer_bytes(const std::string& url, const std::string& pin, const std::string& token) {
    CURL* c = curl_easy_init();
    std::string body, head;
    curl_slist* h = curl_slist_append(nullptr, ("Authorization: Bearer " + token).c_str());
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, pin.c_str());
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    const CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) throw std::runtime_error("GET " + url + ": " + curl_easy_strerror(rc));
    return {body.size(), head.size()};
}

bool wait_for(const std::function<bool()>& done, double seconds) {
    const double until = now_seconds() + seconds;
    while (now_seconds() < until) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    return done();
}

}  // namespace

int main(int argc, char** argv) {
    const long users = flag_value(argc, argv, "users", 10000);
    const long changes = flag_value(argc, argv, "changes", 100);
    const long idle_seconds = flag_value(argc, argv, "idle-seconds", 120);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    try {
        TempDir dir(PORTAL_BENCH_TMP, "agent");
        const fs::path run_base = runtime_base();
        fs::create_directories(dir.path() / "authority");
        Daemon authority(PORTAL_KEYD_BIN, dir.path() / "authority",
                         run_base.empty() ? fs::path() : run_base / "agent-bench-authority",
                         "[listen]\nhttps = \"127.0.0.1:0\"\n");
        fs::create_directories(authority.state_dir());
        const Seeded seed = seed_store(authority.database(), static_cast<int>(users), 3);
        const std::string host_token = seed_host(authority.database(), seed.account_id);
        authority.start();
        HttpConnection api(authority.api_socket());
        const auto server = nlohmann::json::parse(api.request("GET", "/v1/server", "", seed.account_id).body);
        const std::string address = server.at("https").at("listening").at(0);
        const std::string pin = server.at("https").at("pin");
        auto authority_revision = [&] {
            return nlohmann::json::parse(api.request("GET", "/v1/server", "", seed.account_id).body)
                .at("revision")
                .get<std::uint64_t>();
        };

        const fs::path agent_dir = dir.path() / "agent";
        fs::create_directories(agent_dir / "state");
        {
            std::ofstream(agent_dir / "host-token") << host_token << "\n";
            fs::permissions(agent_dir / "host-token", fs::perms::owner_read | fs::perms::owner_write);
        }
        Daemon agent(PORTAL_KEYD_BIN, agent_dir, run_base.empty() ? fs::path() : run_base / "agent-bench-agent",
                     "[portal]\nurl = \"https://" + address + "\"\npin = \"" + pin + "\"\nhost_token_file = \"" +
                         (agent_dir / "host-token").string() + "\"\n");
        const double t0 = now_seconds();
        agent.start();
        HttpConnection agent_api(agent.api_socket());
        auto agent_revision = [&] {
            return nlohmann::json::parse(agent_api.get("/v1/server").body).at("sync").at("revision").get<std::uint64_t>();
        };
        const std::uint64_t start_revision = authority_revision();
        if (!wait_for([&] { return agent_revision() == start_revision; }, 300))
            throw std::runtime_error("the agent did not sync; log:\n" + agent.log_tail());
        const double first_sync_s = now_seconds() - t0;
        const MemInfo synced_mem = mem_info(agent.pid());

        portal::ipc::ClientOptions lo;
        lo.socket_path = agent.login_socket().string();
        const portal::ipc::LoginClient login(lo);
        std::vector<double> follow_ms;
        std::vector<double> body_bytes, head_bytes;
        for (long c = 0; c < changes; ++c) {
            const auto& user = seed.users[1 + static_cast<std::size_t>(c * 7919) % (seed.users.size() - 1)];
            std::function<bool()> visible;
            HttpResponse r;
            switch (c % 4) {
                case 0:
                case 1: {  // a key added
                    r = api.request("POST", "/v1/ssh_keys",
                                    nlohmann::json{{"name", "agent-bench-" + std::to_string(c)},
                                                   {"public_key", bench_key_line(c)}, {"user_id", user.id}}.dump(),
                                    seed.account_id);
                    const std::size_t want = user.keys.size() + 1;
                    visible = [&login, &user, want] {
                        auto k = login.get_authorized_keys(user.unix_name);
                        return k.ok() && k.value.keys.size() >= want;
                    };
                    break;
                }
                case 2: {  // a member deactivated
                    r = api.request("PUT", "/v1/account/users/" + user.id, R"({"status":"deactivated"})", seed.account_id);
                    visible = [&login, &user] {
                        auto a = login.check_account(user.unix_name, "192.0.2.1", "sshd");
                        return a.ok() && !a.value.allow;
                    };
                    break;
                }
                default: {  // Enforce 2FA switched (an account-wide change)
                    const bool on = (c / 4) % 2 == 0;
                    r = api.request("PUT", "/v1/account",
                                    nlohmann::json{{"enforce_2fa", on}, {"confirm", seed.account_id}}.dump(), seed.account_id);
                    const auto& probe = seed.users[1];
                    visible = [&login, &probe, on] {
                        auto a = login.check_account(probe.unix_name, "192.0.2.1", "sshd");
                        return a.ok() && a.value.allow != on;  // a member without 2FA: refused while it is on
                    };
                }
            }
            const double committed = now_seconds();
            if (r.status != 200 && r.status != 201)
                throw std::runtime_error("change " + std::to_string(c) + ": HTTP " + std::to_string(r.status) + " " + r.body);
            if (!wait_for(visible, 30)) throw std::runtime_error("the agent did not show change " + std::to_string(c));
            follow_ms.push_back((now_seconds() - committed) * 1e3);
            const auto rev = authority_revision();
            const auto [body, head] = feed_answer_bytes(
                "https://" + address + "/v1/iam/changes?since=" + std::to_string(rev - 1) + "&profiles=1", pin, host_token);
            body_bytes.push_back(static_cast<double>(body));
            head_bytes.push_back(static_cast<double>(head));
        }

        // Idle: long-polls with nothing to say.
        const CpuInfo before = cpu_info(agent.pid());
        std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
        const CpuInfo after = cpu_info(agent.pid());
        const MemInfo mem = mem_info(agent.pid());
        const double idle_cpu_s = after.cpu_s - before.cpu_s;

        std::printf("agent_bench: %ld members x 3 keys, %ld changes\n", users, changes);
        std::printf("  first sync: %.0f ms (start until the agent serves the authority's revision)\n", first_sync_s * 1e3);
        std::printf("  change -> agent's login socket: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", percentile(follow_ms, 0.5),
                    percentile(follow_ms, 0.99), percentile(follow_ms, 1.0));
        std::printf("  one change on the wire: body median %.0f B (max %.0f), headers %.0f B\n", median(body_bytes),
                    percentile(body_bytes, 1.0), median(head_bytes));
        std::printf("  idle: %.3f s CPU in %ld s -> %.1f s CPU per hour\n", idle_cpu_s, idle_seconds,
                    idle_seconds > 0 ? idle_cpu_s / static_cast<double>(idle_seconds) * 3600.0 : 0.0);
        std::printf("  agent VmRSS %.1f MiB after the first sync, %.1f MiB at the end, VmHWM %.1f MiB\n",
                    static_cast<double>(synced_mem.rss_kib) / 1024.0, static_cast<double>(mem.rss_kib) / 1024.0,
                    static_cast<double>(mem.hwm_kib) / 1024.0);
        agent.stop();
        authority.stop();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "agent_bench: %s\n", e.what());
        return 1;
    }
    curl_global_cleanup();
    return 0;
}
