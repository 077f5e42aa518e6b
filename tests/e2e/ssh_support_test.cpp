// End to end: support access over the real sshd. On a server whose [login] roles include
// support, a support staff member (marked by root, a member of the provider's own account) logs
// in with their own key while the account grants support access, in no extra group; when the
// grant expires their open session ends and the next login is refused. The expiry is a short
// one set after the session is open (a grant moved to now + 3 s), so nothing races the login.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

namespace {

// RFC 3339 UTC, whole seconds: the API's form (fixed width, so it also compares as time).
std::string utc_text(std::chrono::system_clock::time_point at) {
    const std::time_t t = std::chrono::system_clock::to_time_t(at);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string grant_until(std::chrono::seconds from_now) { return utc_text(std::chrono::system_clock::now() + from_now); }

// A support staff member: a manager of the provider's own account, marked by root.
Member support_staff(World& w) {
    auto provider = w.api().post("/v1/accounts", {{"name", "Provider"}});
    REQUIRE(provider.status == 201);
    auto made = w.api().call("POST", "/v1/account/users",
                             nlohmann::json{{"email", "sam@provider.example"}, {"name", "Sam Support"}, {"role", "manager"}},
                             0, provider.json.at("id").get<std::string>());
    REQUIRE(made.status == 201);
    Member m;
    m.id = made.json.at("id").get<std::string>();
    m.email = "sam@provider.example";
    m.role = "support";
    m.unix_name = made.json.at("unix_name").get<std::string>();
    m.uid = made.json.at("uid").get<uid_t>();
    REQUIRE(w.api().put("/v1/support/staff/" + m.id, nlohmann::json::object()).status == 200);
    return m;
}

}  // namespace

TEST_CASE("support access: staff log in while it is granted - at its expiry their session ends and logins stop",
          "[e2e][support]") {
    WorldOptions o;
    o.login_roles = {"owner", "manager", "support"};
    World w("support", o);
    Member bystander = w.add_member("bea@example.com", "manager");
    Member staff = support_staff(w);

    // Not granted: not a member of this account, so not a user of this server.
    CHECK_FALSE(lookup_user(staff.unix_name));

    auto granted = w.api().call("PUT", "/v1/support/access", nlohmann::json{{"enabled", true}, {"expires_at", grant_until(std::chrono::hours(1))}},
                                0, w.account_id());
    REQUIRE(granted.status == 200);
    w.add_key(staff);  // their own key, in the account they support
    auto first = login_eventually(w, staff);
    INFO(first.transcript() << "\n" << w.diagnostics());
    REQUIRE(first.ok());
    // A support login gets no extra group ([userdb] role_groups: support -> none by default).
    auto who = lookup_user(staff.unix_name);
    REQUIRE(who);
    const auto groups = groups_of(staff.unix_name, who->gid);
    CHECK(std::find(groups.begin(), groups.end(), "sudo") == groups.end());

    auto session = w.client();
    REQUIRE(session->login({staff.unix_name, staff.key, {}}).ok());
    REQUIRE(session->start("sleep 60"));
    REQUIRE(wait_until([&] { return !processes_of(staff.uid).empty(); }, 5000ms));
    auto other = w.client();
    REQUIRE(other->login({bystander.unix_name, bystander.key, {}}).ok());
    REQUIRE(other->start("sleep 60"));

    // The owner shortens the grant: it expires in 3 s, and nothing else changes after that.
    const std::string until = grant_until(std::chrono::seconds(3));
    REQUIRE(w.api().call("PUT", "/v1/support/access", nlohmann::json{{"enabled", true}, {"expires_at", until}}, 0,
                         w.account_id())
                .status == 200);
    REQUIRE_FALSE(session->wait_channel_closed(500ms));  // still granted

    const bool closed = session->wait_channel_closed(20000ms);
    INFO("expires_at " << until << "\n" << w.diagnostics());
    CHECK(closed);
    // Not before its time.
    CHECK(utc_text(std::chrono::system_clock::now()) >= until);
    CHECK(wait_until([&] { return processes_of(staff.uid).empty(); }, 5000ms));
    auto again = w.login(staff);
    INFO(again.transcript());
    CHECK_FALSE(again.ok());
    auto access = w.api().call("GET", "/v1/support/access", std::nullopt, 0, w.account_id());
    CHECK(access.json.at("enabled") == false);
    // The account's own members are untouched.
    CHECK_FALSE(other->wait_channel_closed(300ms));
    CHECK(w.login(bystander).ok());
}

TEST_CASE("support access: where [login] roles leave support out, staff never log in", "[e2e][support]") {
    World w("support-off");  // the default: owner and manager
    Member staff = support_staff(w);
    REQUIRE(w.api().call("PUT", "/v1/support/access",
                         nlohmann::json{{"enabled", true}, {"expires_at", grant_until(std::chrono::hours(1))}}, 0,
                         w.account_id())
                .status == 200);
    w.add_key(staff);
    Member owner = w.add_member("otto@example.com", "owner");
    REQUIRE(login_eventually(w, owner).ok());  // publication caught up with the grant too
    auto r = w.login(staff);
    INFO(r.transcript());
    CHECK_FALSE(r.ok());
    CHECK(w.probe_key(staff.unix_name, staff.key) != "success");
}
