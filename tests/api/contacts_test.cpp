// Contacts (issue 12): members read them, owners change them; every field is checked (422
// naming it) and a refused write stores nothing.
#include <catch2/catch.hpp>
#include <string>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

nlohmann::json a_contact() {
    return {{"name", "Ops desk"},
            {"email", "ops@example.com"},
            {"phone", "+4930901820"},
            {"notification_roles", {"security", "technical"}}};
}

}  // namespace

TEST_CASE("contacts: owners create, change and delete them - members read them", "[api][contacts]") {
    Daemon d("contacts");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const auto hdr = account_header(seed.account_id);

    auto made = d.post("/v1/contacts", a_contact(), seed.owner.uid, hdr);
    REQUIRE(made.status == 201);
    const std::string id = made.json.at("id");
    CHECK(id.rfind("con_", 0) == 0);
    CHECK(made.json.at("name") == "Ops desk");
    CHECK(made.json.at("phone") == "+4930901820");
    // Kept in the fixed order of the roles, whatever order they came in.
    CHECK(made.json.at("notification_roles") == nlohmann::json{"technical", "security"});

    auto seen = d.get("/v1/contacts/" + id, mgr.uid, hdr);
    REQUIRE(seen.status == 200);
    CHECK(seen.json == made.json);
    auto listed = d.get("/v1/contacts", mgr.uid, hdr);
    REQUIRE(listed.status == 200);
    CHECK(listed.json == nlohmann::json::array({made.json}));
    CHECK(header_long(listed, "x-total") == 1);

    CHECK(d.post("/v1/contacts", a_contact(), mgr.uid, hdr).status == 403);
    CHECK(d.put("/v1/contacts/" + id, {{"name", "x"}}, mgr.uid, hdr).status == 403);
    CHECK(d.del("/v1/contacts/" + id, mgr.uid, hdr).status == 403);

    auto changed = d.put("/v1/contacts/" + id, {{"phone", nullptr}, {"notification_roles", {"billing"}}}, seed.owner.uid, hdr);
    REQUIRE(changed.status == 200);
    CHECK(changed.json.at("phone") == "+4930901820");  // null: left as it was
    CHECK(changed.json.at("notification_roles") == nlohmann::json{"billing"});
    auto cleared = d.put("/v1/contacts/" + id, {{"phone", ""}}, seed.owner.uid, hdr);
    REQUIRE(cleared.status == 200);
    CHECK(cleared.json.at("phone").is_null());
    CHECK(cleared.json.at("name") == "Ops desk");

    auto dup = a_contact();
    dup["name"] = "Another";
    dup["email"] = "OPS@example.com";  // the same address
    auto conflict = d.post("/v1/contacts", dup, seed.owner.uid, hdr);
    CHECK(conflict.status == 409);
    CHECK(conflict.json.at("errors").contains("email"));

    // Another account neither sees nor changes them.
    auto other = seed_account(d, "Other", "other");
    CHECK(d.get("/v1/contacts/" + id, other.owner.uid).status == 404);
    CHECK(d.del("/v1/contacts/" + id, other.owner.uid).status == 404);
    CHECK(d.put("/v1/contacts/" + id, {{"name", "Theirs"}}, other.owner.uid).status == 404);
    auto theirs = d.get("/v1/contacts", other.owner.uid);
    REQUIRE(theirs.status == 200);
    CHECK(theirs.json.empty());

    CHECK(d.del("/v1/contacts/" + id, seed.owner.uid, hdr).status == 204);
    CHECK(d.get("/v1/contacts/" + id, seed.owner.uid, hdr).status == 404);
    CHECK(d.del("/v1/contacts/" + id, seed.owner.uid, hdr).status == 404);
}

TEST_CASE("contacts: bad input is 422 naming the field, and nothing is stored", "[api][contacts]") {
    Daemon d("contacts-input");
    auto seed = seed_account(d);
    const auto hdr = account_header(seed.account_id);
    struct Bad {
        const char* field;
        nlohmann::json value;  // null: the field left out
    };
    const Bad bad[] = {
        {"name", nullptr},
        {"name", ""},
        {"name", 7},
        {"name", std::string(101, 'n')},
        {"name", "tab\there"},
        {"email", nullptr},
        {"email", "not-an-email"},
        {"email", "a@b@c"},
        {"email", "<a@b>"},
        {"email", ""},
        {"phone", "030 901820"},
        {"phone", "+0301"},
        {"phone", "4930901820"},
        {"phone", "+49309018201234567"},
        {"phone", "+49-30"},
        {"phone", 4930901820},
        {"notification_roles", "security"},
        {"notification_roles", {"sales"}},
        {"notification_roles", {"security", "security"}},
        {"notification_roles", {7}},
        {"unknown_field", 1},
    };
    for (const auto& b : bad) {
        auto body = a_contact();
        if (b.value.is_null()) body.erase(b.field);
        else body[b.field] = b.value;
        auto r = d.post("/v1/contacts", body, seed.owner.uid, hdr);
        INFO(body.dump() << " -> " << r.describe());
        CHECK(r.status == 422);
        CHECK(r.json.value("errors", nlohmann::json::object()).contains(b.field));
    }
    CHECK(d.get("/v1/contacts", seed.owner.uid, hdr).json.empty());

    auto made = d.post("/v1/contacts", a_contact(), seed.owner.uid, hdr);
    REQUIRE(made.status == 201);
    const std::string id = made.json.at("id");
    for (const auto& b : bad) {
        if (b.value.is_null()) continue;  // leaving a field out of an update keeps it
        auto r = d.put("/v1/contacts/" + id, {{b.field, b.value}}, seed.owner.uid, hdr);
        INFO(b.field << " = " << b.value.dump() << " -> " << r.describe());
        CHECK(r.status == 422);
        CHECK(r.json.value("errors", nlohmann::json::object()).contains(b.field));
    }
    CHECK(d.get("/v1/contacts/" + id, seed.owner.uid, hdr).json == made.json);
}
