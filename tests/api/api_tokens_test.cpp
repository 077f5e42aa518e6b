// API tokens (issue 10): made on the socket by their member, shown once, stored hashed; over
// HTTPS they act as that member, capped by their access level, and stop at once when deleted,
// expired, or when the member is deactivated or removed.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "keyd/iam/authority/tokens.h"
#include "keyd/store/store.h"
#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

DaemonOptions token_daemon_options() {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\n";
    return o;
}

std::string file_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool rejected_as_invalid(const HttpResult& r) {
    return r.status == 401 && r.header("www-authenticate").find("error=\"invalid_token\"") != std::string::npos &&
           r.json.value("message", "") == "invalid, expired or revoked credential";
}

}  // namespace

TEST_CASE("api tokens: created on the socket, the secret shown once, listed without it", "[api][tokens]") {
    Daemon d("tokens-crud");
    const auto seed = seed_account(d);
    const uid_t me = seed.owner.uid;

    auto made = d.post("/v1/api_tokens", {{"name", "ci"}, {"access_level", "full"}, {"expires_in", 3600}}, me);
    REQUIRE(made.status == 201);
    const std::string secret = made.json.at("token");
    CHECK(secret.starts_with("pk_tok_"));
    CHECK(secret.size() == 7 + 43);
    CHECK(made.json["access_level"] == "full");
    CHECK(made.json["user_id"] == seed.owner.id);
    CHECK(made.json["expires_at"].is_string());
    CHECK(made.json["last_used_at"].is_null());

    auto defaults = d.post("/v1/api_tokens", {{"name", "reader"}}, me);
    REQUIRE(defaults.status == 201);
    CHECK(defaults.json["access_level"] == "read_only");  // least privilege unless asked
    CHECK(defaults.json["expires_at"].is_null());

    auto list = d.get("/v1/api_tokens", me);
    REQUIRE(list.status == 200);
    REQUIRE(list.json.size() == 2);
    for (const auto& t : list.json) CHECK_FALSE(t.contains("token"));
    CHECK(list.body.find(secret.substr(7)) == std::string::npos);

    SECTION("bad input names the field and changes nothing") {
        CHECK(d.post("/v1/api_tokens", {{"name", "ci"}}, me).status == 409);
        auto bad_level = d.post("/v1/api_tokens", {{"name", "x"}, {"access_level", "admin"}}, me);
        CHECK(bad_level.status == 422);
        CHECK(bad_level.json["errors"].contains("access_level"));
        for (const nlohmann::json& in : {nlohmann::json(59), nlohmann::json(1.5), nlohmann::json("3600"),
                                         nlohmann::json(400000000000LL)}) {
            auto r = d.post("/v1/api_tokens", {{"name", "x"}, {"expires_in", in}}, me);
            INFO(in.dump());
            CHECK(r.status == 422);
            CHECK(r.json["errors"].contains("expires_in"));
        }
        CHECK(d.post("/v1/api_tokens", {{"name", ""}}, me).status == 422);
        CHECK(d.post("/v1/api_tokens", {{"name", "x"}, {"scopes", "all"}}, me).status == 422);
        CHECK(d.get("/v1/api_tokens", me).json.size() == 2);
    }
    SECTION("root has no tokens of its own; nobody deletes another user's token") {
        CHECK(d.post("/v1/api_tokens", {{"name", "root"}}).status == 403);
        auto other = add_member(d, seed.account_id, "other@example.com", "owner");
        CHECK(d.del("/v1/api_tokens/" + made.json["id"].get<std::string>(), other.uid).status == 404);
        CHECK(d.del("/v1/api_tokens/tok_nope", me).status == 404);
        CHECK(d.del("/v1/api_tokens/" + made.json["id"].get<std::string>(), me).status == 204);
        CHECK(d.get("/v1/api_tokens", me).json.size() == 1);
    }
    SECTION("the secret is in neither the log nor the database") {
        d.stop();
        CHECK(d.log().find(secret.substr(7)) == std::string::npos);
        CHECK(file_bytes(d.database()).find(secret.substr(7)) == std::string::npos);
        d.start();
    }
}

TEST_CASE("api tokens: over HTTPS a token acts as its member, capped by its level", "[api][tokens][https]") {
    Daemon d("tokens-https", token_daemon_options());
    const auto seed = seed_account(d);
    const auto other = seed_account(d, "B", "b");
    const HttpsTarget https = https_listener(d);
    const auto full = create_api_token(d, seed.owner.uid, "full", "full");
    const auto reader = create_api_token(d, seed.owner.uid, "reader", "read_only");

    auto me = https_request(https, full.secret, "GET", "/v1/profile");
    REQUIRE(me.status == 200);
    CHECK(me.json["id"] == seed.owner.id);
    CHECK(https_request(https, full.secret, "PUT", "/v1/profile", R"({"name":"Via Token"})").status == 200);
    CHECK(d.get("/v1/profile", seed.owner.uid).json["name"] == "Via Token");

    // Used: last_used_at is set (to the minute), never the secret.
    auto listed = d.get("/v1/api_tokens", seed.owner.uid);
    for (const auto& t : listed.json)
        if (t["id"] == full.id) CHECK(t["last_used_at"].is_string());

    SECTION("read_only reads, and every write is refused saying why") {
        CHECK(https_request(https, reader.secret, "GET", "/v1/account/users").status == 200);
        auto put = https_request(https, reader.secret, "PUT", "/v1/profile", R"({"name":"No"})");
        CHECK(put.status == 403);
        CHECK(put.json["message"] == "this API token is read_only: it may only read");
    }
    SECTION("no token creates tokens") {
        auto r = https_request(https, full.secret, "POST", "/v1/api_tokens", R"({"name":"more"})");
        CHECK(r.status == 403);
        CHECK(d.get("/v1/api_tokens", seed.owner.uid).json.size() == 2);
    }
    SECTION("another account's id in X-Account-ID reaches nothing") {
        auto r = https_request(https, full.secret, "GET", "/v1/account/users", std::nullopt,
                               account_header(other.account_id));
        CHECK(r.status == 404);
    }
    SECTION("deleted: refused at once, as an unknown token is") {
        REQUIRE(d.del("/v1/api_tokens/" + full.id, seed.owner.uid).status == 204);
        CHECK(rejected_as_invalid(https_request(https, full.secret, "GET", "/v1/profile")));
        std::string forged = full.secret;
        forged.back() = forged.back() == 'A' ? 'B' : 'A';
        CHECK(rejected_as_invalid(https_request(https, forged, "GET", "/v1/profile")));
        CHECK(rejected_as_invalid(https_request(https, full.secret.substr(0, 20), "GET", "/v1/profile")));
        CHECK(rejected_as_invalid(https_request(https, "pk_ses_whatever", "GET", "/v1/profile")));
    }
}

TEST_CASE("api tokens: a member deactivated or removed loses their tokens at once", "[api][tokens][https]") {
    Daemon d("tokens-deactivated", token_daemon_options());
    const auto seed = seed_account(d);
    const HttpsTarget https = https_listener(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const auto token = create_api_token(d, mgr.uid, "laptop", "full");
    REQUIRE(https_request(https, token.secret, "GET", "/v1/account").status == 200);

    REQUIRE(d.put("/v1/account/users/" + mgr.id, {{"status", "deactivated"}}, 0, account_header(seed.account_id))
                .status == 200);
    CHECK(rejected_as_invalid(https_request(https, token.secret, "GET", "/v1/account")));
    CHECK(rejected_as_invalid(https_request(https, token.secret, "GET", "/v1/profile/invitations")));

    // Reactivated: the token is theirs again (deleting it is their call, or root's).
    REQUIRE(d.put("/v1/account/users/" + mgr.id, {{"status", "active"}}, 0, account_header(seed.account_id)).status ==
            200);
    CHECK(https_request(https, token.secret, "GET", "/v1/account").status == 200);

    REQUIRE(d.del("/v1/account/users/" + mgr.id, 0, account_header(seed.account_id)).status == 204);
    CHECK(rejected_as_invalid(https_request(https, token.secret, "GET", "/v1/account")));
}

TEST_CASE("api tokens: an expired token is refused like an unknown one", "[api][tokens][https]") {
    Daemon d("tokens-expired", token_daemon_options());
    const auto seed = seed_account(d);
    d.stop();
    // A token that expired a minute ago, written by the store code the daemon uses.
    const std::string secret = "pk_tok_" + std::string(43, 'x');
    {
        auto store = portal::store::Store::open(d.database());
        portal::ApiToken t;
        t.id = "tok_expired";
        t.user_id = seed.owner.id;
        t.name = "old";
        t.access = portal::TokenAccess::full;
        t.created_at = "2026-01-01T00:00:00Z";
        t.expires_at = "2026-01-01T00:01:00Z";
        store->api_tokens().insert(t, portal::iam::authority::credential_hash(secret));
        t.id = "tok_valid";
        t.name = "valid";
        t.expires_at = "2099-01-01T00:00:00Z";
        store->api_tokens().insert(t, portal::iam::authority::credential_hash("pk_tok_" + std::string(43, 'y')));
    }
    d.start();
    CHECK(rejected_as_invalid(https_request(https_listener(d), secret, "GET", "/v1/account")));
    CHECK(https_request(https_listener(d), "pk_tok_" + std::string(43, 'y'), "GET", "/v1/account").status == 200);
}
