// Portal sessions (issue 10): a member signs in over HTTPS with email, password and (with 2FA)
// a TOTP code; the session token acts as them until it expires, they sign out, change their
// password elsewhere, or lose their last active membership. Sign-in failures are throttled
// per email and per client address, with one answer for every wrong credential.
#include <catch2/catch.hpp>
#include <string>

#include "keyd/iam/authority/tokens.h"
#include "keyd/store/store.h"
#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

constexpr const char* kPassword = "correct horse battery";

DaemonOptions session_daemon_options(const std::string& api_toml = "") {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\n\n[api]\n" + api_toml;
    return o;
}

nlohmann::json sign_in_body(const std::string& email, const std::string& password, const std::string& code = "") {
    nlohmann::json b{{"email", email}, {"password", password}};
    if (!code.empty()) b["tfa_code"] = code;
    return b;
}

HttpResult sign_in(const HttpsTarget& t, const std::string& email, const std::string& password,
                   const std::string& code = "") {
    return https_request(t, "", "POST", "/v1/auth/sessions", sign_in_body(email, password, code).dump());
}

void set_password(const Daemon& d, uid_t uid, const std::string& password) {
    REQUIRE(d.put("/v1/profile/password", {{"password", password}}, uid).status == 204);
}

bool session_refused(const HttpResult& r) {
    return r.status == 401 && r.header("www-authenticate").find("error=\"invalid_token\"") != std::string::npos;
}

bool wrong_credentials_answer(const HttpResult& r) {
    return r.status == 401 && r.json.value("message", "") == "wrong email, password or 2FA code";
}

}  // namespace

TEST_CASE("sessions: sign in over HTTPS, act as the member, sign out", "[api][sessions][https]") {
    Daemon d("sessions-basic", session_daemon_options());
    const auto seed = seed_account(d);
    const HttpsTarget https = https_listener(d);
    set_password(d, seed.owner.uid, kPassword);

    auto made = sign_in(https, seed.owner.email, kPassword);
    REQUIRE(made.status == 201);
    const std::string token = made.json.at("token");
    CHECK(token.starts_with("pk_ses_"));
    CHECK(token.size() == 7 + 43);
    CHECK(made.json["expires_at"].is_string());
    CHECK(made.header("cache-control") == "no-store");

    auto me = https_request(https, token, "GET", "/v1/profile");
    REQUIRE(me.status == 200);
    CHECK(me.json["id"] == seed.owner.id);
    // The email is matched as the store keeps it: without regard to case.
    std::string upper = seed.owner.email;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(sign_in(https, upper, kPassword).status == 201);

    SECTION("a session does what its member may, and may make API tokens") {
        CHECK(https_request(https, token, "PUT", "/v1/profile", R"({"name":"Via Session"})").status == 200);
        CHECK(https_request(https, token, "POST", "/v1/api_tokens", R"({"name":"from-portal"})").status == 201);
    }
    SECTION("signing out ends it at once; other credentials have no current session") {
        CHECK(https_request(https, token, "DELETE", "/v1/auth/sessions/current").status == 204);
        CHECK(session_refused(https_request(https, token, "GET", "/v1/profile")));
        const auto api = create_api_token(d, seed.owner.uid, "t", "full");
        CHECK(https_request(https, api.secret, "DELETE", "/v1/auth/sessions/current").status == 404);
        CHECK(d.del("/v1/auth/sessions/current", seed.owner.uid).status == 404);
    }
    SECTION("the secret and the password are in neither the log nor the database") {
        d.stop();
        CHECK(d.log().find(token.substr(7)) == std::string::npos);
        CHECK(d.log().find(kPassword) == std::string::npos);
        const std::string db = read_file(d.database());
        CHECK(db.find(token.substr(7)) == std::string::npos);
        CHECK(db.find(kPassword) == std::string::npos);
        CHECK(db.find("$argon2id$v=19$m=19456,t=2,p=1$") != std::string::npos);
        d.start();
    }
}

TEST_CASE("sessions: wrong credentials get one answer, and are throttled per email and per address",
          "[api][sessions][https]") {
    Daemon d("sessions-throttle", session_daemon_options("sign_in_max_failures = 3\n"
                                                         "sign_in_max_failures_per_address = 6\n"
                                                         "sign_in_lockout = 600\n"));
    const auto seed = seed_account(d);
    const auto other = add_member(d, seed.account_id, "other@example.com", "manager");
    const auto third = add_member(d, seed.account_id, "third@example.com", "manager");
    const auto no_password = add_member(d, seed.account_id, "nopw@example.com", "manager");
    set_password(d, seed.owner.uid, kPassword);
    set_password(d, other.uid, kPassword);
    set_password(d, third.uid, kPassword);
    HttpsTarget https = https_listener(d);

    // Unknown email, no password set, wrong password: the same 401.
    CHECK(wrong_credentials_answer(sign_in(https, "nobody@example.com", kPassword)));
    CHECK(wrong_credentials_answer(sign_in(https, no_password.email, "anything at all")));
    CHECK(wrong_credentials_answer(sign_in(https, seed.owner.email, "not the password")));
    CHECK(wrong_credentials_answer(sign_in(https, seed.owner.email, "still not it!")));

    SECTION("bad input names the field") {
        auto r = https_request(https, "", "POST", "/v1/auth/sessions", R"({"email":"a@example.com"})");
        CHECK(r.status == 422);
        CHECK(r.json["errors"].contains("password"));
        r = https_request(https, "", "POST", "/v1/auth/sessions",
                          R"({"email":"a@example.com","password":"x","remember":true})");
        CHECK(r.status == 422);
        CHECK(https_request(https, "", "POST", "/v1/auth/sessions", "{").status == 400);
    }
    SECTION("the third failure for one email locks it, even for the right password") {
        CHECK(wrong_credentials_answer(sign_in(https, seed.owner.email, "third wrong one")));
        auto locked = sign_in(https, seed.owner.email, kPassword);
        CHECK(locked.status == 429);
        CHECK(header_long(locked, "retry-after") > 0);
        // Another member signs in from the same address meanwhile.
        CHECK(sign_in(https, other.email, kPassword).status == 201);
    }
    SECTION("the address's budget covers every email tried from it") {
        CHECK(wrong_credentials_answer(sign_in(https, other.email, "wrong")));
        CHECK(wrong_credentials_answer(sign_in(https, "ghost@example.com", "wrong")));  // 6th from this address
        CHECK(sign_in(https, third.email, kPassword).status == 429);
        // From another address the member is not held back by this one's guesses.
        https.source_ip = "127.0.0.2";
        CHECK(sign_in(https, third.email, kPassword).status == 201);
    }
}

TEST_CASE("sessions: a member with 2FA signs in with a code", "[api][sessions][https][tfa]") {
    Daemon d("sessions-tfa", session_daemon_options());
    const auto seed = seed_account(d);
    const HttpsTarget https = https_listener(d);
    set_password(d, seed.owner.uid, kPassword);
    const auto enrolled = enrol_tfa(d, seed.owner.uid);

    auto without = sign_in(https, seed.owner.email, kPassword);
    CHECK(without.status == 401);
    CHECK(without.json["code"] == "TFA_REQUIRED");
    CHECK(wrong_credentials_answer(sign_in(https, seed.owner.email, kPassword, wrong_totp(enrolled.secret))));
    // A wrong password with a right code says nothing about the code.
    CHECK(wrong_credentials_answer(sign_in(https, seed.owner.email, "not the password", totp_now(enrolled.secret, 1))));
    const std::string code = totp_now(enrolled.secret, 1);
    CHECK(sign_in(https, seed.owner.email, kPassword, code).status == 201);
    // The same code again is a replay; a recovery code works once.
    CHECK(wrong_credentials_answer(sign_in(https, seed.owner.email, kPassword, code)));
    CHECK(sign_in(https, seed.owner.email, kPassword, enrolled.recovery_codes.at(0)).status == 201);
    CHECK(wrong_credentials_answer(sign_in(https, seed.owner.email, kPassword, enrolled.recovery_codes.at(0))));
}

TEST_CASE("sessions: passwords are set by their user - a change ends the other sessions", "[api][sessions][https]") {
    Daemon d("sessions-password", session_daemon_options());
    const auto seed = seed_account(d);
    const HttpsTarget https = https_listener(d);

    auto short_one = d.put("/v1/profile/password", {{"password", "short"}}, seed.owner.uid);
    CHECK(short_one.status == 422);
    CHECK(short_one.json["errors"].contains("password"));
    CHECK(d.put("/v1/profile/password", {{"password", kPassword}}).status == 403);  // root has no profile
    set_password(d, seed.owner.uid, kPassword);

    const std::string first = sign_in(https, seed.owner.email, kPassword).json.at("token");
    const std::string second = sign_in(https, seed.owner.email, kPassword).json.at("token");

    // Over HTTPS the current password is needed.
    auto missing = https_request(https, first, "PUT", "/v1/profile/password", R"({"password":"a new passphrase"})");
    CHECK(missing.status == 422);
    CHECK(missing.json["errors"].contains("current_password"));
    auto wrong = https_request(https, first, "PUT", "/v1/profile/password",
                               R"({"password":"a new passphrase","current_password":"guess guess"})");
    CHECK(wrong.status == 422);
    // API tokens never set passwords.
    const auto api = create_api_token(d, seed.owner.uid, "t", "full");
    CHECK(https_request(https, api.secret, "PUT", "/v1/profile/password",
                        nlohmann::json{{"password", "a new passphrase"}, {"current_password", kPassword}}.dump())
              .status == 403);

    auto changed = https_request(https, first, "PUT", "/v1/profile/password",
                                 nlohmann::json{{"password", "a new passphrase"}, {"current_password", kPassword}}.dump());
    CHECK(changed.status == 204);
    CHECK(https_request(https, first, "GET", "/v1/profile").status == 200);  // the one that changed it stays
    CHECK(session_refused(https_request(https, second, "GET", "/v1/profile")));
    CHECK(https_request(https, api.secret, "GET", "/v1/profile").status == 200);  // tokens are not sessions
    CHECK(wrong_credentials_answer(sign_in(https, seed.owner.email, kPassword)));
    CHECK(sign_in(https, seed.owner.email, "a new passphrase").status == 201);
}

TEST_CASE("sessions: deactivation ends them for good - the socket makes none", "[api][sessions][https]") {
    Daemon d("sessions-deactivated", session_daemon_options());
    const auto seed = seed_account(d);
    const HttpsTarget https = https_listener(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    set_password(d, mgr.uid, kPassword);
    const std::string token = sign_in(https, mgr.email, kPassword).json.at("token");
    REQUIRE(https_request(https, token, "GET", "/v1/account").status == 200);

    REQUIRE(d.put("/v1/account/users/" + mgr.id, {{"status", "deactivated"}}, 0, account_header(seed.account_id))
                .status == 200);
    CHECK(session_refused(https_request(https, token, "GET", "/v1/account")));
    CHECK(sign_in(https, mgr.email, kPassword).status == 403);
    REQUIRE(d.put("/v1/account/users/" + mgr.id, {{"status", "active"}}, 0, account_header(seed.account_id)).status ==
            200);
    CHECK(session_refused(https_request(https, token, "GET", "/v1/account")));  // ended, not suspended
    CHECK(sign_in(https, mgr.email, kPassword).status == 201);

    auto on_socket = d.post("/v1/auth/sessions", sign_in_body(mgr.email, kPassword), mgr.uid);
    CHECK(on_socket.status == 400);
}

TEST_CASE("sessions: an expired session is refused like an unknown one", "[api][sessions][https]") {
    Daemon d("sessions-expired", session_daemon_options());
    const auto seed = seed_account(d);
    d.stop();
    const std::string secret = "pk_ses_" + std::string(43, 'x');
    {
        auto store = portal::store::Store::open(d.database());
        portal::store::SessionRecord s{"ses_old", seed.owner.id, "127.0.0.1", "2026-01-01T00:00:00Z",
                                       "2026-01-01T12:00:00Z", std::nullopt};
        store->sessions().insert(s, portal::iam::authority::credential_hash(secret));
        s.id = "ses_valid";
        s.expires_at = "2099-01-01T00:00:00Z";
        store->sessions().insert(s, portal::iam::authority::credential_hash("pk_ses_" + std::string(43, 'y')));
    }
    d.start();
    CHECK(session_refused(https_request(https_listener(d), secret, "GET", "/v1/account")));
    CHECK(https_request(https_listener(d), "pk_ses_" + std::string(43, 'y'), "GET", "/v1/account").status == 200);
}
