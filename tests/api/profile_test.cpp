// /v1/profile and TOTP enrolment: the secret is shown once and nowhere else (responses,
// log, files), codes are single use, failures are rate limited.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <regex>
#include <set>
#include <thread>

#include "shared/base32.h"
#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;
namespace fs = std::filesystem;

namespace {

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
}

bool contains_ci(std::string hay, std::string needle) {
    for (auto* s : {&hay, &needle})
        for (auto& c : *s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return hay.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("GET/PUT /v1/profile", "[api][profile]") {
    Daemon d("profile");
    auto seed = seed_account(d);
    auto other = seed_account(d, "Globex", "globex");
    // The Acme owner joins Globex as a manager.
    auto join = d.post("/v1/account/users", {{"email", seed.owner.email}, {"name", "x"}, {"role", "manager"}}, 0,
                       account_header(other.account_id));
    REQUIRE(join.status == 201);

    auto r = d.get("/v1/profile", seed.owner.uid);
    INFO(r.describe());
    REQUIRE(r.status == 200);
    CHECK(r.json.at("id") == seed.owner.id);
    CHECK(r.json.at("email") == seed.owner.email);
    CHECK(r.json.at("uid") == seed.owner.uid);
    CHECK(r.json.at("unix_name") == seed.owner.json.at("unix_name"));
    CHECK(r.json.at("tfa_enabled") == false);
    CHECK(r.json.contains("last_login"));
    CHECK(r.json.contains("created_at"));
    CHECK(r.json.contains("updated_at"));
    CHECK(!r.json.contains("role"));  // roles are per account
    REQUIRE(r.json.at("accounts").is_array());
    REQUIRE(r.json.at("accounts").size() == 2);
    std::map<std::string, std::string> roles;
    for (const auto& a : r.json.at("accounts")) roles[a.at("id")] = a.at("role");
    CHECK(roles[seed.account_id] == "owner");
    CHECK(roles[other.account_id] == "manager");

    auto upd = d.put("/v1/profile", {{"name", "Renamed Owner"}}, seed.owner.uid);
    INFO(upd.describe());
    REQUIRE(upd.status == 200);
    CHECK(upd.json.at("name") == "Renamed Owner");
    CHECK(d.get("/v1/account/users/" + seed.owner.id).json.at("name") == "Renamed Owner");
    // Only the name is writable.
    auto bad = d.put("/v1/profile", {{"email", "new@example.com"}}, seed.owner.uid);
    CHECK(bad.status == 422);
    CHECK(bad.json["errors"].contains("email"));
    CHECK(d.put("/v1/profile", {{"name", ""}}, seed.owner.uid).status == 422);
    CHECK(d.put("/v1/profile", {{"name", 12}}, seed.owner.uid).status == 422);
    // Empty body: nothing changes.
    CHECK(d.put("/v1/profile", nlohmann::json::object(), seed.owner.uid).json.value("name", "") == "Renamed Owner");
}

TEST_CASE("TOTP enrolment: secret shown once, never stored or logged in the clear", "[api][profile][tfa]") {
    Daemon d("tfa-enrol");
    auto seed = seed_account(d);
    const uid_t uid = seed.owner.uid;

    // Confirm before enable: nothing pending.
    CHECK(d.post("/v1/profile/tfa/confirm", {{"code", "123456"}}, uid).status == 412);

    auto en = d.post("/v1/profile/tfa/enable", nlohmann::json::object(), uid);
    INFO(en.describe());
    REQUIRE(en.status == 201);
    const std::string secret = en.json.at("secret");
    const std::string uri = en.json.at("otpauth_uri");
    CHECK(std::regex_match(secret, std::regex("[A-Z2-7]{32}")));  // 160 bits, unpadded
    auto raw = portal::base32_decode(secret);
    REQUIRE(raw);
    CHECK(raw->size() == 20);
    CHECK(uri.rfind("otpauth://totp/", 0) == 0);
    CHECK(uri.find("secret=" + secret) != std::string::npos);
    CHECK(uri.find("issuer=") != std::string::npos);
    CHECK(std::regex_match(en.json.at("expires_at").get<std::string>(),
                           std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
    CHECK(en.header("cache-control") == "no-store");

    // Re-enable before confirming replaces the pending secret.
    auto en2 = d.post("/v1/profile/tfa/enable", nlohmann::json::object(), uid);
    REQUIRE(en2.status == 201);
    const std::string secret2 = en2.json.at("secret");
    CHECK(secret2 != secret);
    auto stale = d.post("/v1/profile/tfa/confirm", {{"code", totp_now(secret)}}, uid);
    if (totp_now(secret) != totp_now(secret2)) {
        INFO(stale.describe());
        CHECK(stale.status == 422);
    }

    // A wrong code: 422 naming `code`; malformed codes too.
    auto wrong = d.post("/v1/profile/tfa/confirm", {{"code", wrong_totp(secret2)}}, uid);
    INFO(wrong.describe());
    CHECK(wrong.status == 422);
    CHECK(wrong.json["errors"].contains("code"));
    CHECK(d.post("/v1/profile/tfa/confirm", {{"code", "12ab56"}}, uid).status == 422);
    CHECK(d.get("/v1/profile", uid).json.value("tfa_enabled", true) == false);

    // The right code: recovery codes, once.
    const std::string code = totp_now(secret2);
    auto conf = d.post("/v1/profile/tfa/confirm", {{"code", code}}, uid);
    INFO(conf.describe());
    REQUIRE(conf.status == 200);
    REQUIRE(conf.json.at("recovery_codes").is_array());
    CHECK(conf.json.at("recovery_codes").size() == 10);
    std::set<std::string> unique;
    for (const auto& rc : conf.json.at("recovery_codes")) unique.insert(rc.get<std::string>());
    CHECK(unique.size() == 10);
    CHECK(conf.header("cache-control") == "no-store");
    CHECK(!contains_ci(conf.body, secret2));

    // Enabled: enable again is 409; a second confirm finds nothing pending.
    auto again = d.post("/v1/profile/tfa/enable", nlohmann::json::object(), uid);
    CHECK(again.status == 409);
    CHECK(again.json.value("code", "") == "MUST_BE_UNIQUE");
    CHECK(d.post("/v1/profile/tfa/confirm", {{"code", totp_now(secret2, 1)}}, uid).status == 412);

    // Nothing the API returns afterwards carries the secret.
    auto prof = d.get("/v1/profile", uid);
    REQUIRE(prof.status == 200);
    CHECK(prof.json.at("tfa_enabled") == true);
    CHECK(!prof.json.contains("secret"));
    CHECK(!prof.json.contains("otpauth_uri"));
    CHECK(!contains_ci(prof.body, secret2));
    auto as_user = d.get("/v1/account/users/" + seed.owner.id);
    CHECK(as_user.json.at("tfa_enabled") == true);
    CHECK(!contains_ci(as_user.body, secret2));
    CHECK(!contains_ci(d.get("/v1/account/users").body, secret2));

    // Neither the log nor any file the daemon keeps contains either secret, in base32
    // (any case) or as raw bytes; the recovery codes are not stored in the clear either.
    const std::string log = d.log();
    CHECK(!log.empty());
    for (const auto& s : {secret, secret2}) {
        INFO("secret " << s);
        CHECK(!contains_ci(log, s));
        CHECK(!contains_ci(log, s.substr(0, 16)));
    }
    for (const auto& rc : unique) CHECK(log.find(rc) == std::string::npos);
    auto raw2 = portal::base32_decode(secret2);
    REQUIRE(raw2);
    const std::string raw_secret(raw2->begin(), raw2->end());
    const std::string raw_first(raw->begin(), raw->end());
    int files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(d.dir())) {
        if (!entry.is_regular_file()) continue;
        ++files;
        const std::string bytes = read_file(entry.path());
        INFO("file " << entry.path() << " (" << bytes.size() << " bytes)");
        for (const auto& s : {secret, secret2}) CHECK(!contains_ci(bytes, s));
        CHECK(bytes.find(raw_secret) == std::string::npos);
        CHECK(bytes.find(raw_first) == std::string::npos);
        for (const auto& rc : unique) CHECK(bytes.find(rc) == std::string::npos);
    }
    CHECK(files >= 3);  // at least the database, the key file and the log

    // Permissions: the state directory is private, the database and key file 0600.
    CHECK(mode_of(d.state_dir()) == 0700);
    CHECK(mode_of(d.database()) == 0600);
    CHECK(mode_of(d.secret_key()) == 0600);
    for (const char* suffix : {"-wal", "-shm"}) {
        fs::path p = d.database().string() + suffix;
        if (fs::exists(p)) {
            INFO(p);
            CHECK(mode_of(p) == 0600);
        }
    }
}

TEST_CASE("TOTP disable: a replayed code is refused, a fresh one or a recovery code works", "[api][profile][tfa]") {
    Daemon d("tfa-disable");
    auto seed = seed_account(d);
    const uid_t uid = seed.owner.uid;

    // Not enrolled: disable is a precondition failure, never success.
    CHECK(d.post("/v1/profile/tfa/disable", {{"code", "123456"}}, uid).status == 412);

    auto e = enrol_tfa(d, uid);
    auto replay = d.post("/v1/profile/tfa/disable", {{"code", e.spent_code}}, uid);
    INFO(replay.describe());
    CHECK(replay.status == 422);
    CHECK(replay.json["errors"].contains("code"));
    CHECK(d.get("/v1/profile", uid).json.value("tfa_enabled", false) == true);

    // The next time step's code has not been used: accepted (within the +-1 step window).
    auto ok = d.post("/v1/profile/tfa/disable", {{"code", totp_now(e.secret, 1)}}, uid);
    INFO(ok.describe());
    CHECK(ok.status == 204);
    CHECK(ok.body.empty());
    CHECK(d.get("/v1/profile", uid).json.value("tfa_enabled", true) == false);

    // Recovery codes work once.
    auto e2 = enrol_tfa(d, uid);
    REQUIRE(e2.recovery_codes.size() == 10);
    auto rec = d.post("/v1/profile/tfa/disable", {{"code", e2.recovery_codes[3]}}, uid);
    INFO(rec.describe());
    CHECK(rec.status == 204);
    auto e3 = enrol_tfa(d, uid);
    // A recovery code of the previous enrolment is gone with it.
    CHECK(d.post("/v1/profile/tfa/disable", {{"code", e2.recovery_codes[4]}}, uid).status == 422);
    CHECK(d.post("/v1/profile/tfa/disable", {{"code", e3.recovery_codes[0]}}, uid).status == 204);
    CHECK(d.post("/v1/profile/tfa/disable", {{"code", e3.recovery_codes[0]}}, uid).status == 412);
}

TEST_CASE("TOTP: 6 wrong codes in a row are rate limited with Retry-After", "[api][profile][tfa]") {
    DaemonOptions opts;
    opts.tfa_max_failures = 5;
    opts.tfa_failure_window = 120;
    opts.tfa_lockout = 3;
    Daemon d("tfa-limit", opts);
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const uid_t uid = seed.owner.uid;

    auto en = d.post("/v1/profile/tfa/enable", nlohmann::json::object(), uid);
    REQUIRE(en.status == 201);
    const std::string secret = en.json.at("secret");
    for (int i = 1; i <= 5; ++i) {
        auto r = d.post("/v1/profile/tfa/confirm", {{"code", wrong_totp(secret)}}, uid);
        INFO("attempt " << i << ": " << r.describe());
        CHECK(r.status == 422);
    }
    auto sixth = d.post("/v1/profile/tfa/confirm", {{"code", wrong_totp(secret)}}, uid);
    INFO(sixth.describe());
    CHECK(sixth.status == 429);
    CHECK(sixth.json.value("code", "") == "TOO_MANY_REQUESTS");
    long retry = header_long(sixth, "retry-after");
    CHECK(retry >= 1);
    CHECK(retry <= 3);
    // While locked even the right code is refused.
    CHECK(d.post("/v1/profile/tfa/confirm", {{"code", totp_now(secret)}}, uid).status == 429);
    // Another user is not affected.
    auto other = d.post("/v1/profile/tfa/enable", nlohmann::json::object(), mgr.uid);
    REQUIRE(other.status == 201);
    CHECK(d.post("/v1/profile/tfa/confirm", {{"code", totp_now(other.json.at("secret"))}}, mgr.uid).status == 200);

    // After the lockout the right code works.
    std::this_thread::sleep_for(std::chrono::seconds(retry + 1));
    auto conf = d.post("/v1/profile/tfa/confirm", {{"code", totp_now(secret)}}, uid);
    INFO(conf.describe());
    CHECK(conf.status == 200);

    // The same limit guards disable.
    for (int i = 1; i <= 5; ++i) CHECK(d.post("/v1/profile/tfa/disable", {{"code", wrong_totp(secret)}}, uid).status == 422);
    auto locked = d.post("/v1/profile/tfa/disable", {{"code", totp_now(secret, 1)}}, uid);
    INFO(locked.describe());
    CHECK(locked.status == 429);
    CHECK(header_long(locked, "retry-after") >= 1);
    CHECK(d.get("/v1/profile", uid).json.value("tfa_enabled", false) == true);
}

TEST_CASE("TOTP: a lock from wrong codes survives a restart of the daemon", "[api][profile][tfa]") {
    DaemonOptions opts;
    opts.tfa_max_failures = 5;
    opts.tfa_lockout = 300;
    Daemon d("tfa-lock-restart", opts);
    auto seed = seed_account(d);
    const uid_t uid = seed.owner.uid;
    auto en = d.post("/v1/profile/tfa/enable", nlohmann::json::object(), uid);
    REQUIRE(en.status == 201);
    const std::string secret = en.json.at("secret");
    for (int i = 1; i <= 5; ++i) CHECK(d.post("/v1/profile/tfa/confirm", {{"code", wrong_totp(secret)}}, uid).status == 422);
    REQUIRE(d.post("/v1/profile/tfa/confirm", {{"code", totp_now(secret)}}, uid).status == 429);

    REQUIRE(d.stop() == 0);
    d.start();
    // Before issue 8's fix the limiter lived in memory: the right code was accepted at once.
    auto after = d.post("/v1/profile/tfa/confirm", {{"code", totp_now(secret)}}, uid);
    INFO(after.describe());
    CHECK(after.status == 429);
    CHECK(header_long(after, "retry-after") > 200);
    CHECK(d.get("/v1/profile", uid).json.value("tfa_enabled", true) == false);
}
