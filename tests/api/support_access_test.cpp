// Support access (issue 12): owners let the provider's support staff in until a time they
// choose; staff (marked by root) then hold an active `support` membership in the account, which
// is deactivated when access is switched off, when it expires (at the expiry time, with no other
// change), or when root unmarks them. Bad input is 422 naming the field and changes nothing.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "keyd/store/timestamp.h"
#include "tests/api/support/agents.h"
#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

std::string support_time_in(std::chrono::seconds from_now) {
    return portal::store::format_rfc3339(
        std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + from_now));
}

// The staff member's membership in the account as root sees it: "" when there is none.
std::string support_membership(const Daemon& d, const std::string& account_id, const std::string& user_id) {
    auto r = d.get("/v1/account/users/" + user_id, 0, account_header(account_id));
    if (r.status == 404) return "";
    REQUIRE(r.status == 200);
    return r.json.at("role").get<std::string>() + "/" + r.json.at("status").get<std::string>();
}

struct SupportWorld {
    Seed customer;
    Member manager;
    Seed provider;
    Member staff;
};

SupportWorld support_world(const Daemon& d) {
    SupportWorld w;
    w.customer = seed_account(d, "Customer", "cust");
    w.manager = add_member(d, w.customer.account_id, "mgr@cust.example", "manager");
    w.provider = seed_account(d, "Provider", "prov");
    w.staff = add_member(d, w.provider.account_id, "staff@provider.example", "manager");
    auto marked = d.put("/v1/support/staff/" + w.staff.id, nlohmann::json::object(), 0);
    REQUIRE(marked.status == 200);
    CHECK(marked.json.at("user_id") == w.staff.id);
    CHECK(marked.json.at("email") == "staff@provider.example");
    return w;
}

}  // namespace

TEST_CASE("support access: a grant gives staff a support membership - switching it off deactivates it",
          "[api][support]") {
    Daemon d("support-access");
    auto w = support_world(d);
    const auto hdr = account_header(w.customer.account_id);

    auto none = d.get("/v1/support/access", w.customer.owner.uid, hdr);
    REQUIRE(none.status == 200);
    CHECK(none.json == nlohmann::json{{"enabled", false}, {"granted_by", nullptr}, {"granted_at", nullptr},
                                      {"expires_at", nullptr}});
    CHECK(support_membership(d, w.customer.account_id, w.staff.id).empty());

    const std::string until = support_time_in(std::chrono::hours(24));
    auto granted = d.put("/v1/support/access", {{"enabled", true}, {"expires_at", until}}, w.customer.owner.uid, hdr);
    REQUIRE(granted.status == 200);
    CHECK(granted.json.at("enabled") == true);
    CHECK(granted.json.at("granted_by") == w.customer.owner.id);
    CHECK(granted.json.at("expires_at") == until);
    CHECK(d.get("/v1/support/access", w.customer.owner.uid, hdr).json == granted.json);
    CHECK(support_membership(d, w.customer.account_id, w.staff.id) == "support/active");
    // The staff member's own account is untouched.
    CHECK(support_membership(d, w.provider.account_id, w.staff.id) == "manager/active");

    // Owners only; and a support membership is not the users API's to change.
    CHECK(d.get("/v1/support/access", w.manager.uid, hdr).status == 403);
    CHECK(d.put("/v1/support/access", {{"enabled", false}}, w.manager.uid, hdr).status == 403);
    CHECK(d.put("/v1/account/users/" + w.staff.id, {{"role", "manager"}}, w.customer.owner.uid, hdr).status == 409);
    CHECK(d.put("/v1/account/users/" + w.staff.id, {{"status", "deactivated"}}, 0, hdr).status == 409);
    CHECK(d.del("/v1/account/users/" + w.staff.id, w.customer.owner.uid, hdr).status == 409);
    CHECK(d.put("/v1/account/users/" + w.manager.id, {{"role", "support"}}, w.customer.owner.uid, hdr).status == 422);
    CHECK(support_membership(d, w.customer.account_id, w.staff.id) == "support/active");

    auto ended = d.put("/v1/support/access", {{"enabled", false}}, w.customer.owner.uid, hdr);
    REQUIRE(ended.status == 200);
    CHECK(ended.json.at("enabled") == false);
    CHECK(ended.json.at("expires_at") == until);  // the last grant stays on record
    CHECK(support_membership(d, w.customer.account_id, w.staff.id) == "support/deactivated");

    // Granted again: the same membership is active again (with the keys it had).
    REQUIRE(d.put("/v1/support/access", {{"enabled", true}, {"expires_at", until}}, 0, hdr).status == 200);
    CHECK(d.get("/v1/support/access", w.customer.owner.uid, hdr).json.at("granted_by").is_null());  // root
    CHECK(support_membership(d, w.customer.account_id, w.staff.id) == "support/active");

    // Root unmarks the staff member: out of every account; marked again while granted: back in.
    REQUIRE(d.del("/v1/support/staff/" + w.staff.id, 0).status == 204);
    CHECK(d.get("/v1/support/staff", 0).json.empty());
    CHECK(support_membership(d, w.customer.account_id, w.staff.id) == "support/deactivated");
    CHECK(d.del("/v1/support/staff/" + w.staff.id, 0).status == 404);
    REQUIRE(d.put("/v1/support/staff/" + w.staff.id, nlohmann::json::object(), 0).status == 200);
    CHECK(support_membership(d, w.customer.account_id, w.staff.id) == "support/active");
    auto staff = d.get("/v1/support/staff", 0);
    REQUIRE(staff.json.size() == 1);
    CHECK(staff.json[0].at("user_id") == w.staff.id);
    CHECK(d.put("/v1/support/staff/usr_nobody", nlohmann::json::object(), 0).status == 404);
    // Only root on the socket says who the staff are.
    CHECK(d.get("/v1/support/staff", w.customer.owner.uid).status == 403);
    CHECK(d.put("/v1/support/staff/" + w.manager.id, nlohmann::json::object(), w.customer.owner.uid).status == 403);
}

TEST_CASE("support access: bad input is 422 naming the field, and nothing changes", "[api][support]") {
    Daemon d("support-input");
    auto w = support_world(d);
    const auto hdr = account_header(w.customer.account_id);
    struct Bad {
        const char* field;
        nlohmann::json body;
    };
    const Bad bad[] = {
        {"enabled", nlohmann::json::object()},
        {"enabled", {{"enabled", "yes"}, {"expires_at", support_time_in(std::chrono::hours(1))}}},
        {"expires_at", {{"enabled", true}}},
        {"expires_at", {{"enabled", true}, {"expires_at", "tomorrow"}}},
        {"expires_at", {{"enabled", true}, {"expires_at", 1767225600}}},
        {"expires_at", {{"enabled", true}, {"expires_at", "2026-02-30T10:00:00Z"}}},
        {"expires_at", {{"enabled", true}, {"expires_at", "2026-12-31T10:00:00+01:00"}}},
        {"expires_at", {{"enabled", true}, {"expires_at", support_time_in(-std::chrono::seconds(5))}}},
        {"expires_at", {{"enabled", true}, {"expires_at", support_time_in(std::chrono::hours(24 * 30 + 1))}}},
        // Beyond what a clock in nanoseconds holds (2262): refused, not overflowed (found by api_router_fuzz).
        {"expires_at", {{"enabled", true}, {"expires_at", "9923-01-01T00:00:00Z"}}},
        {"expires_at", {{"enabled", true}, {"expires_at", "1000-01-01T00:00:00Z"}}},
        {"expires_at", {{"enabled", false}, {"expires_at", support_time_in(std::chrono::hours(1))}}},
        {"granted_by", {{"enabled", true}, {"expires_at", support_time_in(std::chrono::hours(1))}, {"granted_by", "x"}}},
    };
    for (const auto& b : bad) {
        auto r = d.put("/v1/support/access", b.body, w.customer.owner.uid, hdr);
        INFO(b.body.dump() << " -> " << r.describe());
        CHECK(r.status == 422);
        CHECK(r.json.value("errors", nlohmann::json::object()).contains(b.field));
    }
    CHECK(d.get("/v1/support/access", w.customer.owner.uid, hdr).json.at("granted_at").is_null());
    CHECK(support_membership(d, w.customer.account_id, w.staff.id).empty());
    // The longest grant there is: 30 days.
    CHECK(d.put("/v1/support/access",
                {{"enabled", true}, {"expires_at", support_time_in(std::chrono::hours(24 * 30) - std::chrono::minutes(1))}},
                w.customer.owner.uid, hdr)
              .status == 200);
}

TEST_CASE("support access: a grant ends at its expiry time, with no other change", "[api][support]") {
    Daemon d("support-expiry");
    auto w = support_world(d);
    const auto hdr = account_header(w.customer.account_id);
    const auto expires = std::chrono::system_clock::now() + std::chrono::seconds(3);
    const std::string until = portal::store::format_rfc3339(std::chrono::system_clock::to_time_t(expires));
    REQUIRE(d.put("/v1/support/access", {{"enabled", true}, {"expires_at", until}}, w.customer.owner.uid, hdr).status ==
            200);
    REQUIRE(support_membership(d, w.customer.account_id, w.staff.id) == "support/active");

    CHECK(eventually([&] { return support_membership(d, w.customer.account_id, w.staff.id) == "support/deactivated"; }, 30));
    // Not before its time: the expiry second had begun when the membership ended.
    CHECK(portal::store::format_rfc3339(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())) >= until);
    auto after = d.get("/v1/support/access", w.customer.owner.uid, hdr);
    CHECK(after.json.at("enabled") == false);
    CHECK(after.json.at("expires_at") == until);
}

namespace {

// The access_window verdict `why` gives for the staff member, once it says `expected`.
std::string support_window_detail(const Daemon& d, const std::string& unix_name, const std::string& expected) {
    std::string detail;
    (void)eventually([&] {
        auto r = d.get("/v1/server/why?user=" + unix_name);
        if (r.status != 200 || !r.json.contains("rules")) return false;
        for (const auto& rule : r.json.at("rules"))
            if (rule.at("rule") == "access_window") detail = rule.at("detail").get<std::string>();
        return detail == expected;
    }, 10);
    return detail;
}

}  // namespace

TEST_CASE("support access: the login state carries the grant's end, and a new grant moves it", "[api][support][why]") {
    // So that a server cut off from the authority, or reading its fallback file, still refuses
    // the staff at that time (the login rules' access_window).
    Daemon d("support-window");
    auto w = support_world(d);
    const auto hdr = account_header(w.customer.account_id);
    const std::string name = w.staff.json.at("unix_name").get<std::string>();
    const std::string first = support_time_in(std::chrono::hours(24));
    REQUIRE(d.put("/v1/support/access", {{"enabled", true}, {"expires_at", first}}, w.customer.owner.uid, hdr).status ==
            200);
    CHECK(support_window_detail(d, name, "support access until " + first) == "support access until " + first);
    // Extended while granted: the membership stays as it was, its end moves.
    const std::string later = support_time_in(std::chrono::hours(48));
    REQUIRE(d.put("/v1/support/access", {{"enabled", true}, {"expires_at", later}}, w.customer.owner.uid, hdr).status ==
            200);
    CHECK(support_window_detail(d, name, "support access until " + later) == "support access until " + later);
    CHECK(support_membership(d, w.customer.account_id, w.staff.id) == "support/active");
}
