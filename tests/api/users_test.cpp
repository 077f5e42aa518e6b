// /v1/account/users: CRUD, pagination and filters, the owner rules, 2FA reset.
#include <catch2/catch.hpp>
#include <regex>
#include <set>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

void check_user_shape(const nlohmann::json& u) {
    INFO(u.dump());
    std::set<std::string> got;
    for (auto it = u.begin(); it != u.end(); ++it) got.insert(it.key());
    if (u.value("status", "") == "invited" && !u.contains("uid")) {
        // An invitation, as the account sees it until the user accepts: no person record.
        CHECK(got == std::set<std::string>{"id", "email", "role", "status", "created_at", "updated_at"});
        return;
    }
    static const std::set<std::string> fields{"id",     "email",       "name",       "unix_name",  "uid",       "role",
                                              "status", "tfa_enabled", "last_login", "created_at", "updated_at"};
    CHECK(got == fields);
    CHECK(u.at("id").is_string());
    CHECK(u.at("uid").is_number_unsigned());
    CHECK(u.at("uid").get<long>() >= 200000);
    CHECK(u.at("tfa_enabled").is_boolean());
    CHECK(u.at("last_login").is_null());
    CHECK(std::regex_match(u.at("unix_name").get<std::string>(), std::regex("[a-z_][a-z0-9_-]*")));
}

std::map<std::string, std::string> links(const std::string& header) {
    // <url>; rel="name", <url>; rel="name"
    std::map<std::string, std::string> out;
    std::regex re(R"re(<([^>]*)>;\s*rel="([a-z]+)")re");
    for (std::sregex_iterator it(header.begin(), header.end(), re), end; it != end; ++it) out[(*it)[2]] = (*it)[1];
    return out;
}

}  // namespace

TEST_CASE("users: create, read, update, delete", "[api][users]") {
    Daemon d("users-crud");
    auto seed = seed_account(d);
    check_user_shape(seed.owner.json);
    CHECK(seed.owner.json.at("role") == "owner");
    CHECK(seed.owner.json.at("status") == "active");

    auto created = d.post("/v1/account/users",
                          {{"email", "jane@example.com"}, {"name", "Jane Doe"}, {"role", "manager"}, {"status", "invited"}},
                          seed.owner.uid);
    INFO(created.describe());
    REQUIRE(created.status == 201);
    check_user_shape(created.json);
    CHECK(created.json.at("email") == "jane@example.com");
    CHECK(created.json.at("role") == "manager");
    CHECK(created.json.at("status") == "invited");
    CHECK(!created.json.contains("uid"));  // the owner sees the invitation only
    const std::string id = created.json.at("id");

    auto got = d.get("/v1/account/users/" + id, seed.owner.uid);
    CHECK(got.status == 200);
    CHECK(got.json == created.json);
    // root sees the whole record.
    auto full = d.get("/v1/account/users/" + id);
    REQUIRE(full.status == 200);
    check_user_shape(full.json);
    CHECK(full.json.at("name") == "Jane Doe");
    CHECK(full.json.at("tfa_enabled") == false);
    CHECK(full.json.at("uid") != seed.owner.json.at("uid"));
    const auto jane_uid = full.json.at("uid").get<uid_t>();

    // Default status is active.
    auto bob = d.post("/v1/account/users", {{"email", "bob@example.com"}, {"name", "Bob"}, {"role", "manager"}},
                      seed.owner.uid);
    REQUIRE(bob.status == 201);
    CHECK(bob.json.at("status") == "active");

    // Only Jane accepts the invitation; then the owner manages her like any member.
    CHECK(d.put("/v1/account/users/" + id, {{"status", "active"}}, seed.owner.uid).status == 403);
    REQUIRE(d.post("/v1/profile/invitations/" + seed.account_id + "/accept", nlohmann::json::object(), jane_uid).status ==
            200);
    auto upd = d.put("/v1/account/users/" + id, {{"name", "Jane Smith"}, {"status", "active"}}, seed.owner.uid);
    INFO(upd.describe());
    REQUIRE(upd.status == 200);
    CHECK(upd.json.at("name") == "Jane Smith");
    CHECK(upd.json.at("status") == "active");
    CHECK(upd.json.at("unix_name") == full.json.at("unix_name"));  // identities never change
    CHECK(upd.json.at("uid") == full.json.at("uid"));
    // Once active, a member cannot go back to invited.
    auto back = d.put("/v1/account/users/" + id, {{"status", "invited"}}, seed.owner.uid);
    CHECK(back.status == 422);
    CHECK(back.json["errors"].contains("status"));

    auto gone = d.del("/v1/account/users/" + id, seed.owner.uid);
    INFO(gone.describe());
    CHECK(gone.status == 204);
    CHECK(gone.body.empty());
    CHECK(d.get("/v1/account/users/" + id, seed.owner.uid).status == 404);
    CHECK(d.del("/v1/account/users/" + id, seed.owner.uid).status == 404);
    // The removed user's uid is no longer a caller in this account.
    CHECK(d.get("/v1/account", jane_uid).status != 200);
}

TEST_CASE("users: 404 for unknown ids and for other accounts' users", "[api][users]") {
    Daemon d("users-404");
    auto a = seed_account(d, "Acme", "acme");
    auto b = seed_account(d, "Globex", "globex");
    auto b_member = add_member(d, b.account_id, "only-globex@example.com", "manager");

    for (uid_t uid : {uid_t{0}, a.owner.uid}) {
        INFO("uid " << uid);
        auto hdr = uid == 0 ? account_header(a.account_id) : HeaderList{};
        CHECK(d.get("/v1/account/users/usr_doesnotexist", uid, hdr).status == 404);
        auto other = d.get("/v1/account/users/" + b_member.id, uid, hdr);
        CHECK(other.status == 404);
        CHECK(other.json.value("code", "") == "NOT_FOUND");
        CHECK(d.put("/v1/account/users/" + b_member.id, {{"name", "x"}}, uid, hdr).status == 404);
        CHECK(d.del("/v1/account/users/" + b_member.id, uid, hdr).status == 404);
        CHECK(d.post("/v1/account/users/" + b_member.id + "/tfa/reset", nlohmann::json::object(), uid, hdr).status == 404);
    }
    CHECK(d.get("/v1/account/users/" + b_member.id, 0, account_header(b.account_id)).status == 200);
}

TEST_CASE("users: duplicate email member is 409, an existing user joins another account", "[api][users]") {
    Daemon d("users-409");
    auto a = seed_account(d, "Acme", "acme");
    auto b = seed_account(d, "Globex", "globex");
    auto jane = add_member(d, a.account_id, "jane@example.com", "manager");

    auto dup = d.post("/v1/account/users", {{"email", "jane@example.com"}, {"name", "Jane again"}, {"role", "owner"}},
                      a.owner.uid);
    INFO(dup.describe());
    CHECK(dup.status == 409);
    CHECK(dup.json.value("code", "") == "MUST_BE_UNIQUE");
    CHECK(dup.json["errors"].contains("email"));
    CHECK(header_long(d.get("/v1/account/users", a.owner.uid), "x-total") == 2);

    // The same person is invited to Globex with a different role: same identity, and she
    // joins only by accepting.
    auto join = d.post("/v1/account/users", {{"email", "jane@example.com"}, {"name", "Jane"}, {"role", "owner"}},
                       b.owner.uid);
    INFO(join.describe());
    REQUIRE(join.status == 201);
    CHECK(join.json.at("id") == jane.id);
    CHECK(join.json.at("status") == "invited");
    CHECK(join.json.at("role") == "owner");
    CHECK(d.get("/v1/accounts", jane.uid).json.size() == 1);
    REQUIRE(d.post("/v1/profile/invitations/" + b.account_id + "/accept", nlohmann::json::object(), jane.uid).status == 200);
    auto joined = d.get("/v1/account/users/" + jane.id, b.owner.uid);
    CHECK(joined.json.at("uid") == jane.json.at("uid"));
    CHECK(joined.json.at("role") == "owner");
    auto accounts = d.get("/v1/accounts", jane.uid);
    CHECK(accounts.json.size() == 2);
}

TEST_CASE("users: pagination headers and filters", "[api][users][pagination]") {
    Daemon d("users-pages");
    auto seed = seed_account(d);
    for (int i = 0; i < 45; ++i) {
        auto r = d.post("/v1/account/users",
                        {{"email", "user" + std::to_string(i) + "@example.com"},
                         {"name", "Paged User " + std::to_string(i)},
                         {"role", i % 9 == 0 ? "owner" : "manager"},
                         {"status", i % 5 == 0 ? "invited" : "active"}},
                        seed.owner.uid);
        REQUIRE(r.status == 201);
    }

    auto p1 = d.get("/v1/account/users", seed.owner.uid);
    INFO(p1.describe());
    REQUIRE(p1.status == 200);
    CHECK(p1.json.size() == 20);
    CHECK(header_long(p1, "x-total") == 46);
    CHECK(header_long(p1, "x-total-pages") == 3);
    CHECK(header_long(p1, "x-page") == 1);
    CHECK(header_long(p1, "x-per-page") == 20);
    auto l1 = links(p1.header("link"));
    INFO("Link: " << p1.header("link"));
    REQUIRE(l1.count("next"));
    REQUIRE(l1.count("last"));
    CHECK(l1.count("first"));
    CHECK(!l1.count("prev"));
    CHECK(l1["next"].find("page=2") != std::string::npos);
    CHECK(l1["last"].find("page=3") != std::string::npos);

    // Following the links walks every user exactly once.
    std::set<std::string> seen;
    for (auto& u : p1.json) seen.insert(u.at("id"));
    auto p2 = d.get(l1["next"], seed.owner.uid);
    REQUIRE(p2.status == 200);
    CHECK(p2.json.size() == 20);
    auto l2 = links(p2.header("link"));
    CHECK(l2.count("prev"));
    CHECK(l2["prev"].find("page=1") != std::string::npos);
    for (auto& u : p2.json) seen.insert(u.at("id"));
    auto p3 = d.get(l2.at("next"), seed.owner.uid);
    REQUIRE(p3.status == 200);
    CHECK(p3.json.size() == 6);
    CHECK(header_long(p3, "x-page") == 3);
    auto l3 = links(p3.header("link"));
    CHECK(!l3.count("next"));
    for (auto& u : p3.json) {
        seen.insert(u.at("id"));
        check_user_shape(u);
    }
    CHECK(seen.size() == 46);

    // Beyond the last page: an empty page, same totals.
    auto p9 = d.get("/v1/account/users?page=9", seed.owner.uid);
    CHECK(p9.status == 200);
    CHECK(p9.json.empty());
    CHECK(header_long(p9, "x-total") == 46);

    auto big = d.get("/v1/account/users?per_page=100", seed.owner.uid);
    CHECK(big.json.size() == 46);
    CHECK(header_long(big, "x-total-pages") == 1);

    // Bad page parameters: 400 naming the parameter.
    for (const std::string q : {"per_page=0", "per_page=101", "per_page=-1", "per_page=abc", "page=0", "page=x"}) {
        auto r = d.get("/v1/account/users?" + q, seed.owner.uid);
        INFO(q << ": " << r.describe());
        CHECK(r.status == 400);
        CHECK(r.json.value("code", "") == "BAD_REQUEST");
        CHECK(r.json.value("message", "").find(q.substr(0, q.find('='))) != std::string::npos);
    }

    // Filters (the filtered total is what X-Total reports).
    auto owners = d.get("/v1/account/users?role=owner&per_page=100", seed.owner.uid);
    CHECK(header_long(owners, "x-total") == 1 + 5);  // i = 0, 9, 18, 27, 36
    for (auto& u : owners.json) CHECK(u.at("role") == "owner");
    auto invited = d.get("/v1/account/users?status=invited", seed.owner.uid);
    CHECK(header_long(invited, "x-total") == 9);  // i % 5 == 0
    auto search = d.get("/v1/account/users?search_pattern=user4", seed.owner.uid);
    CHECK(header_long(search, "x-total") == 6);  // user4, user40..user44
    auto by_name = d.get("/v1/account/users?search_pattern=PAGED%20USER%2012", seed.owner.uid);
    REQUIRE(by_name.json.size() == 1);
    CHECK(by_name.json[0].at("email") == "user12@example.com");
    auto paged_filter = d.get("/v1/account/users?role=manager&per_page=10&page=4", seed.owner.uid);
    CHECK(header_long(paged_filter, "x-total") == 40);
    CHECK(paged_filter.json.size() == 10);
    auto pf_links = links(paged_filter.header("link"));
    CHECK(pf_links["last"].find("role=manager") != std::string::npos);  // filters survive in links
    CHECK(d.get("/v1/account/users?role=admin", seed.owner.uid).status == 400);
    CHECK(d.get("/v1/account/users?status=gone", seed.owner.uid).status == 400);

    // Managers may read the list too.
    auto any_mgr = d.get("/v1/account/users?role=manager&status=active&per_page=1", seed.owner.uid);
    REQUIRE(any_mgr.json.size() == 1);
    uid_t mgr_uid = any_mgr.json[0].at("uid").get<uid_t>();
    CHECK(header_long(d.get("/v1/account/users", mgr_uid), "x-total") == 46);
}

TEST_CASE("users: managers cannot manage users", "[api][users][roles]") {
    Daemon d("users-mgr");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    auto other = add_member(d, seed.account_id, "other@example.com", "manager");

    auto r = d.post("/v1/account/users", {{"email", "x@example.com"}, {"name", "X"}, {"role", "manager"}}, mgr.uid);
    INFO(r.describe());
    CHECK(r.status == 403);
    CHECK(r.json.value("code", "") == "FORBIDDEN");
    CHECK(d.put("/v1/account/users/" + other.id, {{"role", "owner"}}, mgr.uid).status == 403);
    CHECK(d.put("/v1/account/users/" + mgr.id, {{"role", "owner"}}, mgr.uid).status == 403);
    CHECK(d.put("/v1/account/users/" + other.id, {{"status", "deactivated"}}, mgr.uid).status == 403);
    CHECK(d.del("/v1/account/users/" + other.id, mgr.uid).status == 403);
    CHECK(d.del("/v1/account/users/" + seed.owner.id, mgr.uid).status == 403);
    CHECK(d.post("/v1/account/users/" + other.id + "/tfa/reset", nlohmann::json::object(), mgr.uid).status == 403);
    // Reads are fine.
    CHECK(d.get("/v1/account/users/" + other.id, mgr.uid).status == 200);
    CHECK(header_long(d.get("/v1/account/users", mgr.uid), "x-total") == 3);
}

TEST_CASE("users: a deactivated member is refused", "[api][users][roles]") {
    Daemon d("users-deact");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    auto r = d.put("/v1/account/users/" + mgr.id, {{"status", "deactivated"}}, seed.owner.uid);
    INFO(r.describe());
    REQUIRE(r.status == 200);
    CHECK(r.json.at("status") == "deactivated");
    CHECK(d.get("/v1/account", mgr.uid).status == 403);
    CHECK(d.get("/v1/ssh_keys", mgr.uid).status == 403);
    CHECK(d.get("/v1/account/users", mgr.uid).status == 403);
    auto again = d.put("/v1/account/users/" + mgr.id, {{"status", "active"}}, seed.owner.uid);
    CHECK(again.status == 200);
    CHECK(d.get("/v1/account", mgr.uid).status == 200);
}

TEST_CASE("users: owner rules", "[api][users][roles]") {
    Daemon d("users-owners");
    auto seed = seed_account(d);
    const auto& a = seed.owner;
    const std::string a_path = "/v1/account/users/" + a.id;

    SECTION("the last active owner cannot be demoted, deactivated or removed") {
        for (uid_t uid : {a.uid, uid_t{0}}) {
            INFO("caller uid " << uid);
            auto demote = d.put(a_path, {{"role", "manager"}}, uid);
            INFO(demote.describe());
            CHECK(demote.status == 422);
            CHECK(demote.json.value("code", "") == "UNPROCESSABLE_ENTITY");
            CHECK(demote.json["errors"].contains("role"));
            auto deact = d.put(a_path, {{"status", "deactivated"}}, uid);
            CHECK(deact.status == 422);
            CHECK(deact.json["errors"].contains("status"));
            auto rm = d.del(a_path, uid);
            INFO(rm.describe());
            CHECK(rm.status == 422);
        }
        auto still = d.get(a_path);
        CHECK(still.json.at("role") == "owner");
        CHECK(still.json.at("status") == "active");
        // A deactivated second owner does not count as an active owner.
        auto b = add_member(d, seed.account_id, "b@example.com", "owner");
        REQUIRE(d.put("/v1/account/users/" + b.id, {{"status", "deactivated"}}).status == 200);
        CHECK(d.put(a_path, {{"role", "manager"}}, a.uid).status == 422);
        // An invited owner does not count either.
        auto c = add_member(d, seed.account_id, "c@example.com", "owner", "invited");
        CHECK(d.put(a_path, {{"role", "manager"}}, a.uid).status == 422);
        (void)c;
    }

    SECTION("an owner cannot re-role, deactivate or remove another owner; root can") {
        auto b = add_member(d, seed.account_id, "b@example.com", "manager");
        const std::string b_path = "/v1/account/users/" + b.id;
        auto promote = d.put(b_path, {{"role", "owner"}}, a.uid);  // owners may promote managers
        INFO(promote.describe());
        REQUIRE(promote.status == 200);
        CHECK(promote.json.at("role") == "owner");

        auto rerole = d.put(b_path, {{"role", "manager"}}, a.uid);
        INFO(rerole.describe());
        CHECK(rerole.status == 403);
        CHECK(rerole.json.value("code", "") == "FORBIDDEN");
        CHECK(d.put(b_path, {{"status", "deactivated"}}, a.uid).status == 403);
        CHECK(d.del(b_path, a.uid).status == 403);
        CHECK(d.put(b_path, {{"role", "manager"}}, b.uid).status == 200);  // but B may demote itself
        CHECK(d.put(b_path, {{"role", "owner"}}, a.uid).status == 200);

        // Nor rename them: another owner's name is root's to change (issue 8 §7).
        CHECK(d.put(b_path, {{"name", "Bea"}}, a.uid).status == 403);

        // root (the machine's administrator) may.
        auto root_demote = d.put(b_path, {{"role", "manager"}});
        INFO(root_demote.describe());
        CHECK(root_demote.status == 200);
        CHECK(root_demote.json.at("role") == "manager");
        CHECK(d.put(b_path, {{"role", "owner"}}).status == 200);
        CHECK(d.put(b_path, {{"status", "deactivated"}}).status == 200);
        CHECK(d.put(b_path, {{"status", "active"}}).status == 200);
        CHECK(d.del(b_path).status == 204);
    }

    SECTION("self-demotion is allowed while another active owner exists") {
        auto b = add_member(d, seed.account_id, "b@example.com", "owner");
        auto self = d.put(a_path, {{"role", "manager"}}, a.uid);
        INFO(self.describe());
        REQUIRE(self.status == 200);
        CHECK(self.json.at("role") == "manager");
        // A is now a manager: user management is closed to it.
        CHECK(d.put(a_path, {{"role", "owner"}}, a.uid).status == 403);
        CHECK(d.get("/v1/accounts", a.uid).json[0].value("role", "") == "manager");
        // B is the last active owner now.
        auto b_path = "/v1/account/users/" + b.id;
        CHECK(d.put(b_path, {{"role", "manager"}}, b.uid).status == 422);
        CHECK(d.del(b_path, b.uid).status == 422);
        // Self-removal is fine with another active owner.
        CHECK(d.put(a_path, {{"role", "owner"}}, b.uid).status == 200);
        CHECK(d.del(a_path, a.uid).status == 204);
        CHECK(header_long(d.get("/v1/account/users", b.uid), "x-total") == 1);
    }
}

TEST_CASE("users: 2FA reset by an owner", "[api][users][tfa]") {
    Daemon d("users-tfareset");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    enrol_tfa(d, mgr.uid);
    CHECK(d.get("/v1/account/users/" + mgr.id).json.value("tfa_enabled", false) == true);

    auto r = d.post("/v1/account/users/" + mgr.id + "/tfa/reset", nlohmann::json::object(), seed.owner.uid);
    INFO(r.describe());
    CHECK(r.status == 204);
    CHECK(r.body.empty());
    CHECK(d.get("/v1/account/users/" + mgr.id).json.value("tfa_enabled", true) == false);
    CHECK(d.get("/v1/profile", mgr.uid).json.value("tfa_enabled", true) == false);
    // The manager can enrol a new device afterwards.
    enrol_tfa(d, mgr.uid);
    CHECK(d.post("/v1/account/users/usr_nope/tfa/reset", nlohmann::json::object(), seed.owner.uid).status == 404);
}
