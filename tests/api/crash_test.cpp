// Crash safety: the daemon is SIGKILLed at random moments while a thread writes (users,
// keys, renames, deletions); after every restart the store must be consistent and every
// write the API acknowledged must still be there.
#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

// What the writer knows for sure. Deletions are recorded before they are sent: once a delete
// may have happened, the object is no longer expected (nor is its absence required).
struct Ledger {
    std::mutex m;
    std::vector<std::string> users;              // acknowledged creations, in order
    std::set<std::string> users_maybe_removed;
    std::map<std::string, std::string> keys;     // fingerprint -> user id, acknowledged
    std::set<std::string> keys_maybe_removed;
    std::atomic<long> acknowledged{0};
    std::atomic<long> server_errors{0};          // 5xx: never acceptable
    std::vector<std::string> server_error_samples;
};

class Writer {
public:
    Writer(const Daemon& d, std::string account, Ledger& ledger, std::atomic<long>& counter, unsigned seed)
        : d_(d), hdr_(account_header(account)), ledger_(ledger), counter_(counter), rng_(seed) {}

    void run(const std::atomic<bool>& stop) {
        while (!stop.load()) step();
    }

private:
    HttpResult send(const std::string& method, const std::string& path, const std::optional<nlohmann::json>& body) {
        HttpRequest req;
        req.method = method;
        req.path = path;
        if (body) req.body = body->dump();
        req.headers = hdr_;
        req.timeout_seconds = 5;
        auto r = d_.send(req);
        if (r.status >= 500) {
            ++ledger_.server_errors;
            std::lock_guard lock(ledger_.m);
            if (ledger_.server_error_samples.size() < 5)
                ledger_.server_error_samples.push_back(method + " " + path + ": " + r.describe());
        }
        if (r.status == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // daemon down
        return r;
    }

    std::optional<std::string> pick_user() {
        std::lock_guard lock(ledger_.m);
        if (ledger_.users.empty()) return std::nullopt;
        return ledger_.users[std::uniform_int_distribution<std::size_t>(0, ledger_.users.size() - 1)(rng_)];
    }

    void step() {
        const long n = counter_++;
        const int op = static_cast<int>(n % 10);
        if (op == 7) {  // remove a member (and with it their keys)
            auto id = pick_user();
            if (!id) return;
            {
                std::lock_guard lock(ledger_.m);
                ledger_.users_maybe_removed.insert(*id);
            }
            send("DELETE", "/v1/account/users/" + *id, std::nullopt);
        } else if (op == 8) {  // delete one key
            std::string fp;
            {
                std::lock_guard lock(ledger_.m);
                if (ledger_.keys.empty()) return;
                auto it = ledger_.keys.begin();
                std::advance(it, std::uniform_int_distribution<std::size_t>(0, ledger_.keys.size() - 1)(rng_));
                fp = it->first;
                ledger_.keys_maybe_removed.insert(fp);
            }
            send("DELETE", "/v1/ssh_keys/" + fp, std::nullopt);
        } else if (op == 9) {  // rename
            auto id = pick_user();
            if (!id) return;
            send("PUT", "/v1/account/users/" + *id, nlohmann::json{{"name", "Renamed " + std::to_string(n)}});
        } else {  // a new member with a key
            auto u = send("POST", "/v1/account/users",
                          nlohmann::json{{"email", "crash" + std::to_string(n) + "@example.com"},
                                         {"name", "Crash " + std::to_string(n)},
                                         {"role", "manager"}});
            if (u.status != 201) return;
            const std::string id = u.json.at("id");
            {
                std::lock_guard lock(ledger_.m);
                ledger_.users.push_back(id);
            }
            ++ledger_.acknowledged;
            auto k = send("POST", "/v1/ssh_keys",
                          nlohmann::json{{"name", "key-" + std::to_string(n)},
                                         {"public_key", fresh_ed25519_line()},
                                         {"labels", {{"batch", std::to_string(n % 3)}}},
                                         {"user_id", id}});
            if (k.status != 201) return;
            std::lock_guard lock(ledger_.m);
            ledger_.keys[k.json.at("fingerprint")] = id;
            ++ledger_.acknowledged;
        }
    }

    const Daemon& d_;
    HeaderList hdr_;
    Ledger& ledger_;
    std::atomic<long>& counter_;
    std::mt19937 rng_;
};

void check_store(const Daemon& d, const std::string& account, Ledger& ledger, bool sqlite_cli) {
    const auto hdr = account_header(account);
    auto users = list_all(d, "/v1/account/users", 0, hdr);
    INFO(users.problem);
    REQUIRE(users.consistent);
    CHECK(users.total == static_cast<long>(users.items.size()));
    std::set<std::string> user_ids;
    for (const auto& u : users.items) {
        const std::string id = u.at("id");
        CHECK(user_ids.insert(id).second);  // no duplicates across pages
        auto one = d.get("/v1/account/users/" + id, 0, hdr);
        INFO("user " << id << ": " << one.describe());
        CHECK(one.status == 200);
        CHECK(one.json == u);
    }

    auto keys = list_all(d, "/v1/ssh_keys", 0, hdr);
    INFO(keys.problem);
    REQUIRE(keys.consistent);
    CHECK(keys.total == static_cast<long>(keys.items.size()));
    std::set<std::string> fps;
    for (const auto& k : keys.items) {
        const std::string fp = k.at("fingerprint");
        CHECK(fps.insert(fp).second);
        INFO("key " << fp << " of " << k.at("user_id"));
        CHECK(user_ids.count(k.at("user_id").get<std::string>()) == 1);  // no key of a missing user
    }
    // Spot-check single reads of keys (every one would be slow late in the run).
    for (std::size_t i = 0; i < keys.items.size(); i += 7) {
        auto one = d.get("/v1/ssh_keys/" + keys.items[i].at("fingerprint").get<std::string>(), 0, hdr);
        CHECK(one.status == 200);
        CHECK(one.json == keys.items[i]);
    }

    // Acknowledged writes survived the crash.
    std::lock_guard lock(ledger.m);
    for (const auto& id : ledger.users) {
        if (ledger.users_maybe_removed.count(id)) continue;
        INFO("acknowledged user " << id);
        CHECK(user_ids.count(id) == 1);
    }
    for (const auto& [fp, owner] : ledger.keys) {
        if (ledger.keys_maybe_removed.count(fp) || ledger.users_maybe_removed.count(owner)) continue;
        INFO("acknowledged key " << fp);
        CHECK(fps.count(fp) == 1);
    }

    if (sqlite_cli) {
        int st = 0;
        auto out = run_command("sqlite3 -readonly '" + d.database().string() +
                                   "' 'PRAGMA integrity_check; PRAGMA foreign_key_check;' 2>&1",
                               &st);
        INFO("sqlite3: " << out);
        CHECK(st == 0);
        CHECK(out == "ok\n");
    }
}

}  // namespace

TEST_CASE("crash safety: SIGKILL during writes, restart, consistent store", "[api][crash]") {
    DaemonOptions opts;
    opts.log_level = "info";
    Daemon d("crash", opts);
    auto seed = seed_account(d);
    int st = 0;
    run_command("command -v sqlite3 >/dev/null", &st);
    const bool sqlite_cli = st == 0;
    if (!sqlite_cli) WARN("sqlite3 CLI not installed: PRAGMA integrity_check skipped");

    const unsigned rng_seed = std::random_device{}();
    INFO("random seed " << rng_seed);
    std::mt19937 rng(rng_seed);
    Ledger ledger;
    std::atomic<long> counter{0};

    for (int iteration = 0; iteration < 20; ++iteration) {
        INFO("iteration " << iteration);
        std::atomic<bool> stop{false};
        Writer writer(d, seed.account_id, ledger, counter, static_cast<unsigned>(rng()));
        std::thread t([&] { writer.run(stop); });
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 400)(rng)));
        d.kill_hard();
        stop = true;
        t.join();

        const auto before = d.log().size();
        REQUIRE_NOTHROW(d.start());
        const std::string fresh = d.log().substr(before);
        INFO("log after restart:\n" << fresh);
        CHECK(fresh.find("info: ready") != std::string::npos);
        CHECK(fresh.find(": error: ") == std::string::npos);
        check_store(d, seed.account_id, ledger, sqlite_cli);
    }

    INFO("acknowledged writes: " << ledger.acknowledged.load());
    CHECK(ledger.acknowledged.load() > 20);  // the writer really wrote
    {
        std::lock_guard lock(ledger.m);
        INFO("5xx samples: " << nlohmann::json(ledger.server_error_samples).dump());
        CHECK(ledger.server_errors.load() == 0);
    }
    const std::string log = d.log();
    auto err = log.find(": error: ");
    INFO("first error line: " << (err == std::string::npos ? "" : log.substr(err, 300)));
    CHECK(err == std::string::npos);

    // A clean stop leaves a database that passes the integrity check on its own.
    CHECK(d.stop() == 0);
    if (sqlite_cli) {
        auto out = run_command("sqlite3 '" + d.database().string() + "' 'PRAGMA integrity_check;' 2>&1", &st);
        CHECK(out == "ok\n");
    }
}
