// Support tickets (issue 12): any active member opens one, writes to it and closes it; a
// closed ticket takes no more messages; text is kept exactly as sent (lines included), bounded,
// and bad input stores nothing.
#include <catch2/catch.hpp>
#include <string>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

TEST_CASE("support tickets: open, write, close - a closed ticket refuses new messages", "[api][tickets]") {
    Daemon d("tickets");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const auto hdr = account_header(seed.account_id);

    const std::string body = "The server does not boot.\nConsole says:\n\t<kernel panic> & \"$(rm -rf /)\"";
    auto opened = d.post("/v1/support/tickets", {{"subject", "Server down"}, {"body", body + "\r\n"}}, mgr.uid, hdr);
    REQUIRE(opened.status == 201);
    const std::string id = opened.json.at("id");
    CHECK(opened.json.at("status") == "open");
    CHECK(opened.json.at("created_by") == mgr.id);
    CHECK(opened.json.at("message_count") == 1);
    REQUIRE(opened.json.at("messages").size() == 1);
    CHECK(opened.json["messages"][0].at("body") == body + "\n");  // as sent, CRLF as LF
    CHECK(opened.json["messages"][0].at("author_id") == mgr.id);

    auto reply = d.post("/v1/support/tickets/" + id + "/messages", {{"body", "Rebooted twice."}}, seed.owner.uid, hdr);
    REQUIRE(reply.status == 201);
    CHECK(reply.json.at("author_id") == seed.owner.id);
    auto by_root = d.post("/v1/support/tickets/" + id + "/messages", {{"body", "From the console."}}, 0, hdr);
    REQUIRE(by_root.status == 201);
    CHECK(by_root.json.at("author_id").is_null());
    CHECK(by_root.json.at("author_name") == "root");

    auto read = d.get("/v1/support/tickets/" + id, mgr.uid, hdr);
    REQUIRE(read.status == 200);
    REQUIRE(read.json.at("messages").size() == 3);
    CHECK(read.json["messages"][1].at("body") == "Rebooted twice.");
    CHECK(read.json["messages"][2].at("body") == "From the console.");
    CHECK(read.json.at("message_count") == 3);

    auto second = d.post("/v1/support/tickets", {{"subject", "Invoice"}, {"body", "Wrong VAT id."}}, seed.owner.uid, hdr);
    REQUIRE(second.status == 201);
    auto listed = d.get("/v1/support/tickets", mgr.uid, hdr);
    REQUIRE(listed.status == 200);
    REQUIRE(listed.json.size() == 2);
    CHECK(header_long(listed, "x-total") == 2);
    CHECK_FALSE(listed.json[0].contains("messages"));

    auto closed = d.post("/v1/support/tickets/" + id + "/close", nlohmann::json::object(), mgr.uid, hdr);
    REQUIRE(closed.status == 200);
    CHECK(closed.json.at("status") == "closed");
    CHECK(closed.json.at("closed_at").is_string());
    auto late = d.post("/v1/support/tickets/" + id + "/messages", {{"body", "One more thing"}}, mgr.uid, hdr);
    CHECK(late.status == 409);
    CHECK(late.json.at("code") == "TICKET_CLOSED");
    CHECK(d.get("/v1/support/tickets/" + id, mgr.uid, hdr).json.at("messages").size() == 3);
    auto again = d.post("/v1/support/tickets/" + id + "/close", nlohmann::json::object(), mgr.uid, hdr);
    CHECK(again.status == 200);
    CHECK(again.json.at("closed_at") == closed.json.at("closed_at"));

    auto open_only = d.get("/v1/support/tickets?status=open", mgr.uid, hdr);
    REQUIRE(open_only.status == 200);
    REQUIRE(open_only.json.size() == 1);
    CHECK(open_only.json[0].at("subject") == "Invoice");
    CHECK(d.get("/v1/support/tickets?status=pending", mgr.uid, hdr).status == 400);

    // Another account's members see none of it.
    auto other = seed_account(d, "Other", "other");
    CHECK(d.get("/v1/support/tickets/" + id, other.owner.uid).status == 404);
    CHECK(d.post("/v1/support/tickets/" + id + "/close", nlohmann::json::object(), other.owner.uid).status == 404);
    CHECK(d.post("/v1/support/tickets/" + id + "/messages", {{"body", "x"}}, other.owner.uid).status == 404);
    CHECK(d.get("/v1/support/tickets", other.owner.uid).json.empty());
    // Nor do members who are not active in this one.
    auto gone = add_member(d, seed.account_id, "gone@example.com", "manager");
    REQUIRE(d.put("/v1/account/users/" + gone.id, {{"status", "deactivated"}}, 0, hdr).status == 200);
    CHECK(d.get("/v1/support/tickets", gone.uid, hdr).status == 403);
    CHECK(d.post("/v1/support/tickets", {{"subject", "s"}, {"body", "b"}}, gone.uid, hdr).status == 403);
}

TEST_CASE("support tickets: bad input is 422 naming the field, and nothing is stored", "[api][tickets]") {
    Daemon d("tickets-input");
    auto seed = seed_account(d);
    const auto hdr = account_header(seed.account_id);
    struct Bad {
        const char* field;
        nlohmann::json value;  // null: left out
    };
    const Bad bad[] = {
        {"subject", nullptr},
        {"subject", ""},
        {"subject", "two\nlines"},
        {"subject", std::string(201, 's')},
        {"subject", 5},
        {"body", nullptr},
        {"body", ""},
        {"body", "\r"},
        {"body", std::string(16385, 'b')},
        {"body", "bell \x07"},
        {"body", "bidi \u202e"},
        {"body", nlohmann::json::array()},
        {"extra", true},
    };
    for (const auto& b : bad) {
        nlohmann::json t{{"subject", "Subject"}, {"body", "Body"}};
        if (b.value.is_null()) t.erase(b.field);
        else t[b.field] = b.value;
        auto r = d.post("/v1/support/tickets", t, seed.owner.uid, hdr);
        INFO(t.dump().substr(0, 200) << " -> " << r.describe());
        CHECK(r.status == 422);
        CHECK(r.json.value("errors", nlohmann::json::object()).contains(b.field));
    }
    CHECK(d.get("/v1/support/tickets", seed.owner.uid, hdr).json.empty());

    auto t = d.post("/v1/support/tickets", {{"subject", "S"}, {"body", "B"}}, seed.owner.uid, hdr);
    REQUIRE(t.status == 201);
    const std::string id = t.json.at("id");
    for (const nlohmann::json& v : {nlohmann::json(""), nlohmann::json(std::string(16385, 'b')), nlohmann::json(1)}) {
        auto r = d.post("/v1/support/tickets/" + id + "/messages", {{"body", v}}, seed.owner.uid, hdr);
        CHECK(r.status == 422);
    }
    CHECK(d.post("/v1/support/tickets/" + id + "/messages", {{"body", "ok"}, {"x", 1}}, seed.owner.uid, hdr).status == 422);
    CHECK(d.get("/v1/support/tickets/" + id, seed.owner.uid, hdr).json.at("message_count") == 1);
    CHECK(d.post("/v1/support/tickets/tkt_nosuchticketxxxxxxxx/messages", {{"body", "x"}}, seed.owner.uid, hdr).status == 404);
}
