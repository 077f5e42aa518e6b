// Cross-cutting API conventions (docs/API.md "Callers" and "Conventions"): identification by
// peer uid, error objects, strict bodies, limits, correlation ids.
#include <catch2/catch.hpp>
#include <regex>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

void check_error(const HttpResult& r, long status, const std::string& code) {
    INFO(r.describe());
    CHECK(r.status == status);
    REQUIRE(r.json.is_object());
    CHECK(r.json.value("code", "") == code);
    CHECK(r.json.contains("message"));
    CHECK(r.json["message"].is_string());
    CHECK(!r.header("x-correlation-id").empty());
}

void check_422(const HttpResult& r, const std::string& field) {
    check_error(r, 422, "UNPROCESSABLE_ENTITY");
    INFO(r.describe());
    REQUIRE(r.json.contains("errors"));
    CHECK(r.json["errors"].contains(field));
}

}  // namespace

TEST_CASE("unknown uids and nobody are refused with 403 everywhere", "[api][callers]") {
    Daemon d("callers");
    auto seed = seed_account(d);
    for (uid_t uid : {kUnknownUid, kNobody}) {
        INFO("uid " << uid);
        check_error(d.get("/v1/account", uid), 403, "FORBIDDEN");
        check_error(d.get("/v1/accounts", uid), 403, "FORBIDDEN");
        check_error(d.post("/v1/accounts", {{"name", "Mine"}}, uid), 403, "FORBIDDEN");
        check_error(d.get("/v1/account/users", uid), 403, "FORBIDDEN");
        check_error(d.get("/v1/account/users/" + seed.owner.id, uid), 403, "FORBIDDEN");
        check_error(d.get("/v1/profile", uid), 403, "FORBIDDEN");
        check_error(d.post("/v1/profile/tfa/enable", nlohmann::json::object(), uid), 403, "FORBIDDEN");
        check_error(d.get("/v1/ssh_keys", uid), 403, "FORBIDDEN");
        check_error(d.get("/v1/account", uid, account_header(seed.account_id)), 403, "FORBIDDEN");
    }
    // The portal user's own uid works from a child process too (same machinery).
    CHECK(d.get("/v1/account", seed.owner.uid).status == 200);
}

TEST_CASE("root has no profile", "[api][callers]") {
    Daemon d("rootprofile");
    seed_account(d);
    check_error(d.get("/v1/profile"), 403, "FORBIDDEN");
    check_error(d.put("/v1/profile", {{"name", "x"}}), 403, "FORBIDDEN");
    check_error(d.post("/v1/profile/tfa/enable", nlohmann::json::object()), 403, "FORBIDDEN");
}

TEST_CASE("unknown routes are 404 and wrong methods 405", "[api][conventions]") {
    Daemon d("routes");
    seed_account(d);
    check_error(d.get("/v1/nope"), 404, "NOT_FOUND");
    check_error(d.get("/v2/account"), 404, "NOT_FOUND");
    check_error(d.del("/v1/account"), 405, "METHOD_NOT_ALLOWED");
    check_error(d.send_raw("PATCH", "/v1/profile", "{}"), 405, "METHOD_NOT_ALLOWED");
}

TEST_CASE("request bodies: malformed JSON 400, unknown/wrong-type/missing fields 422", "[api][conventions]") {
    Daemon d("bodies");
    auto seed = seed_account(d);

    SECTION("malformed JSON") {
        check_error(d.send_raw("POST", "/v1/account/users", "{\"email\": "), 400, "BAD_REQUEST");
        check_error(d.send_raw("PUT", "/v1/account", "{name: 'x'}"), 400, "BAD_REQUEST");
        check_error(d.send_raw("PUT", "/v1/profile", "not json", seed.owner.uid), 400, "BAD_REQUEST");
    }
    SECTION("a body that is not an object") {
        check_error(d.send_raw("POST", "/v1/account/users", "[1,2]"), 400, "BAD_REQUEST");
        check_error(d.send_raw("PUT", "/v1/account", "\"name\""), 400, "BAD_REQUEST");
    }
    SECTION("unknown field") {
        check_422(d.put("/v1/account", {{"name", "x"}, {"colour", "red"}}), "colour");
        check_422(d.post("/v1/account/users",
                         {{"email", "a@example.com"}, {"name", "A"}, {"role", "manager"}, {"is_admin", true}}),
                  "is_admin");
        check_422(d.put("/v1/profile", {{"nickname", "x"}}, seed.owner.uid), "nickname");
        check_422(d.post("/v1/profile/tfa/enable", {{"force", true}}, seed.owner.uid), "force");
    }
    SECTION("wrong type") {
        check_422(d.put("/v1/account", {{"name", 5}}), "name");
        check_422(d.put("/v1/account", {{"enforce_2fa", "yes"}}), "enforce_2fa");
        check_422(d.post("/v1/account/users", {{"email", "a@example.com"}, {"name", "A"}, {"role", 1}}), "role");
        check_422(d.post("/v1/ssh_keys", {{"name", "k"}, {"public_key", "x"}, {"labels", "a=b"},
                                          {"user_id", seed.owner.id}}),
                  "labels");
    }
    SECTION("missing field") {
        check_422(d.post("/v1/account/users", {{"name", "A"}, {"role", "manager"}}), "email");
        check_422(d.post("/v1/account/users", {{"email", "a@example.com"}, {"role", "manager"}}), "name");
        check_422(d.post("/v1/account/users", {{"email", "a@example.com"}, {"name", "A"}}), "role");
        check_422(d.post("/v1/accounts", nlohmann::json::object()), "name");
        check_422(d.post("/v1/ssh_keys", {{"public_key", "x"}}, seed.owner.uid), "name");
        check_422(d.post("/v1/profile/tfa/confirm", nlohmann::json::object(), seed.owner.uid), "code");
    }
    SECTION("invalid values") {
        check_422(d.post("/v1/account/users", {{"email", "not-an-email"}, {"name", "A"}, {"role", "manager"}}), "email");
        check_422(d.post("/v1/account/users", {{"email", "b@example.com"}, {"name", "B"}, {"role", "admin"}}), "role");
        check_422(d.post("/v1/account/users",
                         {{"email", "b@example.com"}, {"name", "B"}, {"role", "manager"}, {"status", "deactivated"}}),
                  "status");
        check_422(d.put("/v1/account", {{"name", ""}}), "name");
        check_422(d.put("/v1/account", {{"name", "bad\nname"}}), "name");
    }
    // Nothing of the refused requests was written.
    auto users = d.get("/v1/account/users");
    CHECK(header_long(users, "x-total") == 1);
}

TEST_CASE("a body over 1 MiB is refused with 413", "[api][conventions]") {
    Daemon d("bigbody");
    auto seed = seed_account(d);
    std::string big = "{\"name\": \"" + std::string(1024 * 1024, 'a') + "\"}";
    auto r = d.send_raw("PUT", "/v1/account", big);
    INFO(r.describe());
    CHECK(r.status == 413);
    REQUIRE(r.json.is_object());
    CHECK(r.json.value("code", "") == "PAYLOAD_TOO_LARGE");
    // docs/API.md: every response has X-Correlation-ID.
    CHECK(!r.header("x-correlation-id").empty());
    // Exactly at the limit is not "too large" (it is just a too-long name: 422).
    std::string body = "{\"name\": \"";
    body += std::string(1024 * 1024 - body.size() - 2, 'b') + "\"}";
    REQUIRE(body.size() == 1024 * 1024);
    auto at_limit = d.send_raw("PUT", "/v1/account", body);
    INFO(at_limit.describe());
    CHECK(at_limit.status == 422);
    // The daemon still serves after refusing.
    CHECK(d.get("/v1/account").status == 200);
    CHECK(d.get("/v1/account", seed.owner.uid).json.value("name", "") == "Acme");
}

TEST_CASE("X-Correlation-ID is echoed when valid, generated otherwise, and logged", "[api][conventions]") {
    Daemon d("correlation");
    seed_account(d);

    const std::string mine = "test-corr_1.abc";
    auto r = d.get("/v1/account", 0, {{"X-Correlation-ID", mine}});
    CHECK(r.status == 200);
    CHECK(r.header("x-correlation-id") == mine);

    // Errors carry it as well.
    auto err = d.get("/v1/account/users/nope", 0, {{"X-Correlation-ID", "err-corr-2"}});
    CHECK(err.status == 404);
    CHECK(err.header("x-correlation-id") == "err-corr-2");

    const std::regex valid("[A-Za-z0-9._-]{1,64}");
    for (const std::string& bad : {std::string("has space"), std::string(65, 'x'), std::string("semi;colon"),
                                  std::string("quote\"d")}) {
        auto g = d.get("/v1/account", 0, {{"X-Correlation-ID", bad}});
        INFO("sent " << bad);
        CHECK(g.status == 200);
        std::string got = g.header("x-correlation-id");
        CHECK(got != bad);
        CHECK(std::regex_match(got, valid));
    }
    auto none = d.get("/v1/account");
    auto a = none.header("x-correlation-id");
    auto b = d.get("/v1/account").header("x-correlation-id");
    CHECK(std::regex_match(a, valid));
    CHECK(a != b);

    const std::string log = d.log();
    CHECK(log.find("correlation_id=" + mine) != std::string::npos);
    CHECK(log.find("correlation_id=err-corr-2") != std::string::npos);
    CHECK(log.find("correlation_id=" + a) != std::string::npos);
    CHECK(log.find("has space") == std::string::npos);  // an invalid id is not logged as given
}

TEST_CASE("paths are routed on raw segments: an encoded slash never separates", "[api][conventions]") {
    Daemon d("rawpath");
    auto seed = seed_account(d);
    // Decoded before routing, "%2F" made these /v1/account/users and /v1/account/users/{id}.
    check_error(d.get("/v1/account%2Fusers"), 404, "NOT_FOUND");
    check_error(d.get("/v1/account%2fusers/" + seed.owner.id), 404, "NOT_FOUND");
    check_error(d.get("/v1%2Faccount"), 404, "NOT_FOUND");
    // An encoded slash inside a parameter stays in that parameter.
    check_error(d.get("/v1/account/users/" + seed.owner.id + "%2F"), 404, "NOT_FOUND");
    // Each segment is still decoded after splitting.
    CHECK(d.get("/v1/%61ccount").status == 200);
    CHECK(d.get("/v1/account/users/" + seed.owner.id).status == 200);
    check_error(d.get("/v1/account/%zzusers"), 400, "BAD_REQUEST");
}

TEST_CASE("text fields refuse bidi controls, control characters and invalid UTF-8", "[api][conventions]") {
    Daemon d("bidi");
    auto seed = seed_account(d);
    const auto key_line = fresh_ed25519_line();
    // "\u202e" in a name makes "exe.doc" read as "cod.exe"; the others hide text just as well.
    const std::vector<std::pair<std::string, std::string>> bad_text = {
        {"U+202E right-to-left override", "invoice\u202Ecod.exe"},
        {"U+202A left-to-right embedding", "a\u202Ab"},
        {"U+2066 left-to-right isolate", "a\u2066b"},
        {"U+2069 pop directional isolate", "a\u2069b"},
        {"U+200F right-to-left mark", "a\u200Fb"},
        {"U+200E left-to-right mark", "a\u200Eb"},
        {"U+061C arabic letter mark", "a\u061Cb"},
        {"U+0085 next line (C1)", "a\u0085b"},
        {"U+2028 line separator", "a\u2028b"},
        {"U+007F delete", "a\u007Fb"},
        {"tab", "a\tb"},
    };
    for (const auto& [what, text] : bad_text) {
        INFO(what);
        check_422(d.put("/v1/account", {{"name", text}}), "name");
        check_422(d.put("/v1/profile", {{"name", text}}, seed.owner.uid), "name");
        check_422(d.post("/v1/ssh_keys", {{"name", text}, {"public_key", key_line}}, seed.owner.uid), "name");
        check_422(d.post("/v1/ssh_keys", {{"name", "k"}, {"public_key", key_line}, {"labels", {{"env", text}}}},
                         seed.owner.uid),
                  "labels");
        check_422(d.post("/v1/account/users", {{"email", "x@example.com"}, {"name", text}, {"role", "manager"}}), "name");
    }
    // Not UTF-8 at all (a stray byte, an overlong '/', an encoded surrogate), or an escaped
    // lone surrogate: the body is not JSON text.
    for (const std::string& raw : {std::string("{\"name\": \"a\xff" "b\"}"), std::string("{\"name\": \"a\xc0\xaf" "b\"}"),
                                   std::string("{\"name\": \"a\xed\xa0\x80" "b\"}"), std::string("{\"name\": \"a\\ud800b\"}")}) {
        INFO(raw);
        check_error(d.send_raw("PUT", "/v1/account", raw), 400, "BAD_REQUEST");
    }
    // Nothing of it was stored; ordinary non-ASCII text is fine.
    CHECK(d.get("/v1/account").json.value("name", "") == "Acme");
    CHECK(header_long(d.get("/v1/ssh_keys", seed.owner.uid), "x-total") == 0);
    const std::string fine = "J\u00F6rg \u540D\u524D \u05E9\u05DC\u05D5\u05DD \U0001F511";
    auto ok = d.put("/v1/account", {{"name", fine}});
    INFO(ok.describe());
    CHECK(ok.status == 200);
    CHECK(d.get("/v1/account").json.value("name", "") == fine);
}
