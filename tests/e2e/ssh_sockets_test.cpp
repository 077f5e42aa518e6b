// End to end: the daemon's login socket (docs/LOGIN_PROTOCOL.md) and its userdb Varlink
// socket under abuse. Malformed and oversized messages get an error and the connection is
// closed; the daemon keeps serving (the socket, NSS and SSH logins); uids other than root and
// the keys helper's user are refused on the login socket.
#include <catch2/catch.hpp>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/raw_socket.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr uid_t kStranger = 4242;  // no account, no portal user

std::string error_of(const Exchange& x) {
    const auto j = first_json(x);
    return j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "";
}

nlohmann::json keys_request(const std::string& user) {
    return {{"method", "io.portal.Login.GetAuthorizedKeys"}, {"parameters", {{"user", user}}}};
}

nlohmann::json user_record_request(const std::string& user) {
    return {{"method", "io.systemd.UserDatabase.GetUserRecord"},
            {"parameters", {{"userName", user}, {"service", "io.portal.keyd"}}}};
}

// The login socket still answers a good request with the member's key.
void login_socket_serves(World& w, const Member& m) {
    const auto x = converse(w.login_socket(), nul_framed(keys_request(m.unix_name)), 1, 3000ms);
    INFO("good request after abuse: " << x.describe());
    const auto j = first_json(x);
    REQUIRE(j.is_object());
    REQUIRE(j.contains("parameters"));
    CHECK(j["parameters"].value("portal_user", false));
    CHECK(j["parameters"]["keys"].size() == 1);
}

}  // namespace

TEST_CASE("login socket: malformed and oversized requests get an error and the daemon keeps serving",
          "[e2e][sockets]") {
    World w("login-socket");
    Member m = w.add_member("lola@example.com", "manager");
    REQUIRE(login_eventually(w, m).ok());
    login_socket_serves(w, m);

    struct Bad {
        const char* what;
        std::string bytes;
        std::string expected_error;
    };
    const std::vector<Bad> cases = {
        {"not JSON", std::string("this is not json") + '\0', "io.portal.Login.BadRequest"},
        {"JSON, not an object", std::string("[1,2,3]") + '\0', "io.portal.Login.BadRequest"},
        {"no method", nul_framed({{"parameters", nlohmann::json::object()}}), "io.portal.Login.BadRequest"},
        {"unknown method", nul_framed({{"method", "io.portal.Login.Nope"}, {"parameters", nlohmann::json::object()}}),
         "io.portal.Login.MethodNotFound"},
        {"user of the wrong type",
         nul_framed({{"method", "io.portal.Login.GetAuthorizedKeys"}, {"parameters", {{"user", 5}}}}),
         "io.portal.Login.BadRequest"},
        {"invalid UTF-8", std::string("{\"method\":\"io.portal.Login.CheckAccount\",\"parameters\":{\"user\":\"\xff\xfe\"}}") + '\0',
         "io.portal.Login.BadRequest"},
        {"oversized (200 KiB, no NUL)", std::string(200 * 1024, 'a'), "io.portal.Login.BadRequest"},
        {"oversized JSON string", nul_framed(keys_request(std::string(100 * 1024, 'x'))), "io.portal.Login.BadRequest"},
    };
    for (const auto& bad : cases) {
        const auto x = converse(w.login_socket(), bad.bytes, 0, 3000ms);
        INFO(bad.what << ": " << x.describe() << "\n" << w.diagnostics());
        CHECK(x.connected);
        CHECK(error_of(x) == bad.expected_error);
        CHECK(x.closed_by_peer);  // a bad request ends the connection
    }

    // A client that sends half a request and stalls does not hold up anyone else.
    HeldConnection slow(w.login_socket());
    REQUIRE(slow.connected());
    REQUIRE(slow.send("{\"method\":\"io.portal.Login.GetAuth"));
    std::vector<std::unique_ptr<HeldConnection>> idle;
    for (int i = 0; i < 20; ++i) idle.push_back(std::make_unique<HeldConnection>(w.login_socket()));

    login_socket_serves(w, m);
    CHECK(w.daemon_running());
    auto r = w.login(m);
    INFO(r.transcript());
    CHECK(r.ok());
}

TEST_CASE("login socket: only root and the keys helper's user may connect", "[e2e][sockets]") {
    World w("login-uids");
    Member m = w.add_member("ursula@example.com", "manager");
    REQUIRE(login_eventually(w, m).ok());
    const std::string request = nul_framed(keys_request(m.unix_name));

    SECTION("the helper's user (nobody) is served") {
        const auto x = converse(w.login_socket(), request, 1, 3000ms, Credentials{kNobody, kNogroup, {}});
        INFO(x.describe());
        CHECK(first_json(x).contains("parameters"));
    }
    SECTION("another uid cannot open the socket file") {
        const auto x = converse(w.login_socket(), request, 1, 3000ms, Credentials{kStranger, kStranger, {}});
        INFO(x.describe());
        CHECK(x.reply.empty());
        CHECK_FALSE(x.connected);  // 0660 root:<helper's group>
    }
    SECTION("another uid in the helper's group gets past the file mode, then SO_PEERCRED refuses it") {
        const auto x = converse(w.login_socket(), request, 1, 3000ms, Credentials{kStranger, kStranger, {kNogroup}});
        INFO(x.describe() << "\n" << w.diagnostics());
        CHECK(x.connected);
        CHECK(x.reply.empty());
        CHECK(x.closed_by_peer);
    }
    SECTION("a portal member's own uid is refused too") {
        const auto x = converse(w.login_socket(), request, 1, 3000ms, Credentials{m.uid, m.uid, {kNogroup}});
        INFO(x.describe());
        CHECK(x.reply.empty());
        CHECK(x.closed_by_peer);
    }
    login_socket_serves(w, m);
}

TEST_CASE("userdb Varlink socket: malformed and oversized requests get an error and NSS keeps working",
          "[e2e][sockets][userdb]") {
    World w("varlink");
    Member owner = w.add_member("vera@example.com", "owner");
    REQUIRE(login_eventually(w, owner).ok());

    const auto sock = w.userdb_socket();
    auto good = converse(sock, nul_framed(user_record_request(owner.unix_name)), 1, 3000ms);
    INFO("good: " << good.describe());
    REQUIRE(first_json(good).contains("parameters"));
    CHECK(first_json(good)["parameters"]["record"]["uid"] == owner.uid);

    struct Bad {
        const char* what;
        std::string bytes;
        std::string expected_error;
        bool closes;
    };
    const std::vector<Bad> cases = {
        {"not JSON", std::string("{not json") + '\0', "io.systemd.System", true},
        {"not an object", std::string("42") + '\0', "io.systemd.System", true},
        {"unknown method", nul_framed({{"method", "io.systemd.UserDatabase.Nope"}, {"parameters", nlohmann::json::object()}}),
         "org.varlink.service.MethodNotFound", false},
        {"wrong service",
         nul_framed({{"method", "io.systemd.UserDatabase.GetUserRecord"},
              {"parameters", {{"userName", owner.unix_name}, {"service", "io.example.other"}}}}),
         "io.systemd.UserDatabase.BadService", false},
        {"ill-typed parameter",
         nul_framed({{"method", "io.systemd.UserDatabase.GetUserRecord"},
              {"parameters", {{"uid", "zero"}, {"service", "io.portal.keyd"}}}}),
         "org.varlink.service.InvalidParameter", false},
        {"oversized (200 KiB, no NUL)", std::string(200 * 1024, 'u'), "io.systemd.System", true},
    };
    for (const auto& bad : cases) {
        const auto x = converse(sock, bad.bytes, bad.closes ? 0 : 1, 3000ms);
        INFO(bad.what << ": " << x.describe() << "\n" << w.diagnostics());
        CHECK(x.connected);
        CHECK(error_of(x) == bad.expected_error);
        if (bad.closes) CHECK(x.closed_by_peer);
    }

    // Stalled clients do not block NSS for everyone else.
    HeldConnection slow(sock);
    REQUIRE(slow.send("{\"method\":\"io.systemd.UserDatabase.GetUser"));

    // Any uid may ask (every process's NSS does), but only root and the user itself see the
    // privileged section (the keys).
    const auto as_nobody = converse(sock, nul_framed(user_record_request(owner.unix_name)), 1, 3000ms,
                                    Credentials{kNobody, kNogroup, {}});
    INFO("as nobody: " << as_nobody.describe());
    const auto record = first_json(as_nobody)["parameters"]["record"];
    CHECK(record["userName"] == owner.unix_name);
    CHECK_FALSE(record.contains("privileged"));

    const auto pw = lookup_user(owner.unix_name);
    REQUIRE(pw);
    const auto groups = groups_of(owner.unix_name, pw->gid);
    CHECK(std::find(groups.begin(), groups.end(), "sudo") != groups.end());  // through the provider
    CHECK(w.daemon_running());
    auto r = w.login(owner);
    INFO(r.transcript());
    CHECK(r.ok());
}
