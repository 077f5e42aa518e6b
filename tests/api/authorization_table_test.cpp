// Every endpoint the daemon serves, called by every kind of principal, against one table
// of expected statuses. The list of endpoints comes from the router the daemon builds
// (register_v1_routes): a new endpoint without a row here fails this test.
//
// Every credential kind: the socket's peer uids, and API tokens over HTTPS.
//
// To add an endpoint: add a row to kTable (method, pattern, body, then the status for
// each principal in the order of kPrincipals). Rows run in table order, destructive ones
// last; each principal gets its own daemon and world, so one principal's writes never
// change what another sees.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "keyd/api/router.h"
#include "keyd/iam/authority/authority.h"
#include "keyd/store/store.h"
#include "keyd/tfa/tfa_service.h"
#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

// On the socket: a uid. Over HTTPS: an API token ("tok" columns): the owner's full and
// read_only tokens, the manager's full token, a token of the deactivated member (made
// while they were active), an enrolled host's token (the feed, and nothing else), and a
// session the owner signed in with (what the owner's full token may, and make API tokens).
enum Who {
    root, owner, manager, deactivated, invited, other_account, non_member,
    owner_full, owner_read_only, manager_full, deactivated_token, host, owner_session, kWhoCount
};
const char* const kPrincipals[kWhoCount] = {
    "root", "owner", "manager", "deactivated member", "invited member", "member of another account", "non-member uid",
    "owner's full token (https)", "owner's read_only token (https)", "manager's full token (https)",
    "deactivated member's token (https)", "an enrolled host's token (https)", "owner's session (https)"};
bool over_https(int who) { return who >= owner_full; }

struct Row {
    const char* method;
    const char* pattern;
    const char* body;  // JSON text, or nullptr for none
    int expect[kWhoCount];
};

// {id}: a manager of account A ("target"), except DELETE, which removes another ("victim").
// {fingerprint}: the target's key in A. {account_id}: accept → A, decline → B; the invited
// member is invited to both. Everyone sends X-Account-ID: A.
//                                                                     root owner mgr  deact inv  other non  tok: own  own-ro mgr  deact host ses
const Row kTable[] = {
    {"GET", "/v1/account", nullptr,                                   {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"PUT", "/v1/account", R"({"name":"A"})",                         {200, 200, 403, 403, 403, 404, 403, 200, 403, 403, 401, 403, 200}},
    {"GET", "/v1/accounts", nullptr,                                  {200, 200, 200, 403, 403, 200, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/accounts", R"({"name":"New"})",                     {201, 201, 201, 403, 403, 201, 403, 201, 403, 201, 401, 403, 201}},
    {"GET", "/v1/account/users", nullptr,                             {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/account/users", R"({"email":"new@example.com","name":"New","role":"manager"})",
                                                                      {201, 201, 403, 403, 403, 404, 403, 201, 403, 403, 401, 403, 201}},
    {"GET", "/v1/account/users/{id}", nullptr,                        {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"PUT", "/v1/account/users/{id}", R"({"role":"manager"})",        {200, 200, 403, 403, 403, 404, 403, 200, 403, 403, 401, 403, 200}},
    {"POST", "/v1/account/users/{id}/tfa/reset", "{}",                {204, 204, 403, 403, 403, 404, 403, 204, 403, 403, 401, 403, 204}},
    {"GET", "/v1/profile", nullptr,                                   {403, 200, 200, 403, 403, 200, 403, 200, 200, 200, 401, 403, 200}},
    {"PUT", "/v1/profile", R"({"name":"Me"})",                        {403, 200, 200, 403, 403, 200, 403, 200, 403, 200, 401, 403, 200}},
    {"GET", "/v1/profile/invitations", nullptr,                       {403, 200, 200, 200, 200, 200, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/profile/tfa/enable", "{}",                          {403, 201, 201, 403, 403, 404, 403, 201, 403, 201, 401, 403, 201}},
    {"POST", "/v1/profile/tfa/confirm", R"({"code":"000000"})",       {403, 422, 422, 403, 403, 404, 403, 422, 403, 422, 401, 403, 422}},
    {"POST", "/v1/profile/tfa/disable", R"({"code":"000000"})",       {403, 412, 412, 403, 403, 404, 403, 412, 403, 412, 401, 403, 412}},
    {"GET", "/v1/ssh_keys", nullptr,                                  {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/ssh_keys", "KEY",                                   {422, 201, 201, 403, 403, 404, 403, 201, 403, 201, 401, 403, 201}},
    {"GET", "/v1/ssh_keys/{fingerprint}", nullptr,                    {200, 200, 404, 403, 403, 404, 403, 200, 200, 404, 401, 403, 200}},
    {"PUT", "/v1/ssh_keys/{fingerprint}", R"({"name":"renamed"})",    {200, 200, 404, 403, 403, 404, 403, 200, 403, 404, 401, 403, 200}},
    {"GET", "/v1/api_tokens", nullptr,                                {403, 200, 200, 200, 200, 200, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/api_tokens", R"({"name":"t"})",                     {403, 201, 201, 403, 403, 201, 403, 403, 403, 403, 401, 403, 201}},
    {"GET", "/v1/hosts", nullptr,                                     {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"GET", "/v1/hosts/{host_id}", nullptr,                           {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/hosts/enrolments", "{}",                            {201, 201, 403, 403, 403, 404, 403, 201, 403, 403, 401, 403, 201}},
    {"POST", "/v1/hosts/register", "REGISTER",                        {201, 201, 201, 201, 201, 201, 403, 201, 201, 201, 201, 201, 201}},
    {"GET", "/v1/iam/state", nullptr,                                 {200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 200, 403}},
    {"GET", "/v1/account/logins", nullptr,                            {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/iam/tfa/verify", R"({"user_id":"usr_nobody","code":"000000"})",
                                                                      {422, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 404, 403}},
    {"POST", "/v1/iam/login_events", "[]",                            {422, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 200, 403}},
    {"GET", "/v1/iam/changes", nullptr,                               {200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 200, 403}},
    {"GET", "/v1/server", nullptr,                                    {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/server/join", "{}",                                 {422, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 403, 403}},
    // ?user= the owner's unix name: root, and the owner themself (any credential of theirs).
    {"GET", "/v1/server/why", nullptr,                                {200, 200, 403, 403, 403, 403, 403, 200, 200, 403, 401, 403, 200}},
    {"GET", "/v1/support/access", nullptr,                            {200, 200, 403, 403, 403, 404, 403, 200, 200, 403, 401, 403, 200}},
    {"PUT", "/v1/support/access", R"({"enabled":false})",             {200, 200, 403, 403, 403, 404, 403, 200, 403, 403, 401, 403, 200}},
    {"GET", "/v1/notifications", nullptr,                             {200, 200, 403, 403, 403, 404, 403, 200, 200, 403, 401, 403, 200}},
    {"GET", "/v1/support/staff", nullptr,                             {200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 403, 403}},
    {"PUT", "/v1/support/staff/{user_id}", "{}",                      {200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 403, 403}},
    {"GET", "/v1/contacts", nullptr,                                  {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/contacts", R"({"name":"N","email":"n@example.com"})",
                                                                      {201, 201, 403, 403, 403, 404, 403, 201, 403, 403, 401, 403, 201}},
    {"GET", "/v1/contacts/{contact_id}", nullptr,                     {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"PUT", "/v1/contacts/{contact_id}", R"({"phone":"+15550100"})",  {200, 200, 403, 403, 403, 404, 403, 200, 403, 403, 401, 403, 200}},
    {"GET", "/v1/support/tickets", nullptr,                           {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/support/tickets", R"({"subject":"S","body":"B"})", {201, 201, 201, 403, 403, 404, 403, 201, 403, 201, 401, 403, 201}},
    {"GET", "/v1/support/tickets/{ticket_id}", nullptr,               {200, 200, 200, 403, 403, 404, 403, 200, 200, 200, 401, 403, 200}},
    {"POST", "/v1/support/tickets/{ticket_id}/messages", R"({"body":"M"})",
                                                                      {201, 201, 201, 403, 403, 404, 403, 201, 403, 201, 401, 403, 201}},
    {"GET", "/v1/account/ip_allowlist", nullptr,                      {200, 200, 403, 403, 403, 404, 403, 200, 200, 403, 401, 403, 200}},
    {"PUT", "/v1/account/ip_allowlist", R"({"active":false})",        {200, 200, 403, 403, 403, 404, 403, 200, 403, 403, 401, 403, 200}},
    {"POST", "/v1/account/ip_allowlist/entries", R"({"cidr":"192.0.2.0/24"})",
                                                                      {201, 201, 403, 403, 403, 404, 403, 201, 403, 403, 401, 403, 201}},
    {"PUT", "/v1/account/ip_allowlist/entries/{entry_id}", R"({"comment":"x"})",
                                                                      {200, 200, 403, 403, 403, 404, 403, 200, 403, 403, 401, 403, 200}},
    {"POST", "/v1/auth/sessions", "SIGN_IN",                          {400, 400, 400, 400, 400, 400, 403, 201, 201, 201, 201, 201, 201}},
    {"PUT", "/v1/profile/password", "PASSWORD",                       {403, 204, 204, 403, 403, 204, 403, 403, 403, 403, 401, 403, 204}},
    {"DELETE", "/v1/api_tokens/{token_id}", nullptr,                  {403, 204, 404, 404, 404, 404, 403, 204, 403, 404, 401, 403, 204}},
    {"DELETE", "/v1/account/ip_allowlist/entries/{entry_id}", nullptr,
                                                                      {204, 204, 403, 403, 403, 404, 403, 204, 403, 403, 401, 403, 204}},
    {"DELETE", "/v1/support/staff/{user_id}", nullptr,                {204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 403, 403}},
    {"POST", "/v1/support/tickets/{ticket_id}/close", "{}",         {200, 200, 200, 403, 403, 404, 403, 200, 403, 200, 401, 403, 200}},
    {"DELETE", "/v1/contacts/{contact_id}", nullptr,                  {204, 204, 403, 403, 403, 404, 403, 204, 403, 403, 401, 403, 204}},
    {"DELETE", "/v1/hosts/{host_id}", nullptr,                        {204, 204, 403, 403, 403, 404, 403, 204, 403, 403, 401, 403, 204}},
    {"DELETE", "/v1/ssh_keys/{fingerprint}", nullptr,                 {204, 204, 404, 403, 403, 404, 403, 204, 403, 404, 401, 403, 204}},
    {"DELETE", "/v1/account/users/{id}", nullptr,                     {204, 204, 403, 403, 403, 404, 403, 204, 403, 403, 401, 403, 204}},
    {"POST", "/v1/profile/invitations/{account_id}/decline", "{}",   {403, 404, 404, 404, 204, 404, 403, 404, 403, 404, 401, 403, 404}},
    {"POST", "/v1/profile/invitations/{account_id}/accept", "{}",    {403, 404, 404, 404, 200, 404, 403, 404, 403, 404, 401, 403, 404}},
    {"DELETE", "/v1/auth/sessions/current", nullptr,                  {403, 404, 404, 404, 404, 404, 403, 404, 403, 404, 401, 403, 204}},
};

std::string route_key(const std::string& method, const std::string& pattern) { return method + " " + pattern; }

// The routes the daemon registers, from the same function its main uses.
std::set<std::string> served_routes(const Daemon& d) {
    const auto dir = d.dir() / "route-list";
    std::filesystem::create_directories(dir);
    auto store = portal::store::Store::open(dir / "routes.db");
    portal::tfa::TfaService tfa(*store, portal::SecretBox::load_or_create(dir / "tfa.key"), {},
                                [] { return std::chrono::system_clock::now(); });
    portal::iam::authority::Authority authority(*store, tfa);
    portal::iam::ServerStatusService server({});
    portal::api::Router router(authority.services());
    portal::api::register_v1_routes(router, server);
    std::set<std::string> out;
    for (const auto& [method, pattern] : router.routes()) out.insert(route_key(method, pattern));
    return out;
}

constexpr const char* kTablePassword = "the table's passphrase";

std::string sign_in_json(const std::string& email) {
    return nlohmann::json{{"email", email}, {"password", kTablePassword}}.dump();
}

struct World {
    std::string a, b;          // account ids
    std::string target, victim, fingerprint;
    uid_t uid[kWhoCount] = {};
    std::string token[kWhoCount];  // the Bearer secret of the HTTPS columns
    std::string table_token_id;    // {token_id}: another of the owner's tokens
    std::string table_host_id;     // {host_id}: a host enrolled in A (not the one whose token is used)
    std::string enrolment_token;   // for the register row
    std::string owner_email;       // for the sign-in row (the password is kTablePassword)
    std::string allowlist_entry;   // {entry_id}: an entry of A's (inactive) IP allowlist
    std::string contact, ticket;   // {contact_id}, {ticket_id}: A's
    std::string owner_unix_name;   // whom /v1/server/why asks about
    HttpsTarget https;
};

World build_world(const Daemon& d) {
    World w;
    auto a = seed_account(d, "A", "a");
    auto b = seed_account(d, "B", "b");
    w.a = a.account_id;
    w.b = b.account_id;
    auto mgr = add_member(d, w.a, "manager@example.com", "manager");
    auto deact = add_member(d, w.a, "deactivated@example.com", "manager");
    w.token[deactivated_token] = create_api_token(d, deact.uid, "before-deactivation", "full").secret;
    REQUIRE(d.put("/v1/account/users/" + deact.id, {{"status", "deactivated"}}, 0, account_header(w.a)).status == 200);
    auto inv = add_member(d, w.a, "invited@example.com", "manager", "invited");
    auto to_b = d.post("/v1/account/users", {{"email", inv.email}, {"name", "I"}, {"role", "manager"}}, b.owner.uid);
    REQUIRE(to_b.json.value("status", "") == "invited");
    auto target = add_member(d, w.a, "target@example.com", "manager");
    auto victim = add_member(d, w.a, "victim@example.com", "manager");
    auto key = d.post("/v1/ssh_keys", {{"name", "target"}, {"public_key", fresh_ed25519_line()}, {"user_id", target.id}}, 0,
                      account_header(w.a));
    REQUIRE(key.status == 201);
    w.target = target.id;
    w.victim = victim.id;
    w.fingerprint = key.json.at("fingerprint");
    w.uid[root] = 0;
    w.uid[owner] = a.owner.uid;
    w.uid[manager] = mgr.uid;
    w.uid[deactivated] = deact.uid;
    w.uid[invited] = inv.uid;
    w.uid[other_account] = b.owner.uid;
    w.uid[non_member] = kUnknownUid;
    w.token[owner_full] = create_api_token(d, a.owner.uid, "full", "full").secret;
    w.token[owner_read_only] = create_api_token(d, a.owner.uid, "read-only", "read_only").secret;
    w.token[manager_full] = create_api_token(d, mgr.uid, "full", "full").secret;
    w.table_token_id = create_api_token(d, a.owner.uid, "table", "full").id;
    w.https = https_listener(d);
    auto enrol = [&] {
        auto e = d.post("/v1/hosts/enrolments", nlohmann::json::object(), 0, account_header(w.a));
        REQUIRE(e.status == 201);
        return e.json.at("token").get<std::string>();
    };
    auto register_host = [&](const std::string& name) {
        auto r = d.post("/v1/hosts/register", {{"token", enrol()}, {"hostname", name}, {"version", "0.1.0"}});
        REQUIRE(r.status == 201);
        return r.json;
    };
    w.token[host] = register_host("agent").at("host_token").get<std::string>();
    w.table_host_id = register_host("table").at("host_id").get<std::string>();
    w.enrolment_token = enrol();
    REQUIRE(d.put("/v1/profile/password", {{"password", kTablePassword}}, a.owner.uid).status == 204);
    w.owner_email = a.owner.email;
    w.owner_unix_name = a.owner.json.at("unix_name").get<std::string>();
    auto session = d.send(HttpRequest{"POST", "/v1/auth/sessions", sign_in_json(w.owner_email), {}, 0, 30, w.https});
    REQUIRE(session.status == 201);
    w.token[owner_session] = session.json.at("token").get<std::string>();
    auto entry = d.post("/v1/account/ip_allowlist/entries", {{"cidr", "198.51.100.0/24"}}, 0, account_header(w.a));
    REQUIRE(entry.status == 201);
    w.allowlist_entry = entry.json.at("id").get<std::string>();
    auto contact = d.post("/v1/contacts", {{"name", "C"}, {"email", "c@example.com"}}, 0, account_header(w.a));
    REQUIRE(contact.status == 201);
    w.contact = contact.json.at("id").get<std::string>();
    auto ticket = d.post("/v1/support/tickets", {{"subject", "T"}, {"body", "B"}}, 0, account_header(w.a));
    REQUIRE(ticket.status == 201);
    w.ticket = ticket.json.at("id").get<std::string>();
    return w;
}

std::string fill(std::string pattern, const Row& row, const World& w) {
    auto replace = [&](const std::string& name, const std::string& value) {
        auto at = pattern.find(name);
        if (at != std::string::npos) pattern.replace(at, name.size(), value);
    };
    replace("{id}", std::string(row.method) == "DELETE" ? w.victim : w.target);
    replace("{fingerprint}", w.fingerprint);
    replace("{account_id}", std::string(row.pattern).find("/accept") != std::string::npos ? w.a : w.b);
    replace("{token_id}", w.table_token_id);
    replace("{host_id}", w.table_host_id);
    replace("{entry_id}", w.allowlist_entry);
    replace("{contact_id}", w.contact);
    replace("{ticket_id}", w.ticket);
    replace("{user_id}", w.target);
    if (pattern == "/v1/iam/changes") pattern += "?since=0";
    if (pattern == "/v1/server/why") pattern += "?user=" + w.owner_unix_name;
    return pattern;
}

}  // namespace

// The table for principals [first, last): three test cases, so that CTest runs them side by
// side (each principal has its own daemon).
static void check_table(int first, int last) {
    std::set<std::string> in_table;
    for (const Row& row : kTable) {
        INFO(route_key(row.method, row.pattern));
        CHECK(in_table.insert(route_key(row.method, row.pattern)).second);  // one row per route
    }

    for (int who = first; who < last; ++who) {
        DaemonOptions opts;
        opts.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\n";
        Daemon d(std::string("authz-") + std::to_string(who), opts);
        if (who == 0) {
            const auto served = served_routes(d);
            for (const auto& r : served) {
                INFO("served but not in the authorization table: " << r);
                CHECK(in_table.count(r) == 1);
            }
            for (const auto& r : in_table) {
                INFO("in the table but not served: " << r);
                CHECK(served.count(r) == 1);
            }
        }
        const World w = build_world(d);
        for (const Row& row : kTable) {
            HttpRequest req;
            req.method = row.method;
            req.path = fill(row.pattern, row, w);
            if (row.body) req.body = std::string(row.body) == "KEY"
                                         ? nlohmann::json{{"name", "k"}, {"public_key", fresh_ed25519_line()}}.dump()
                                         : std::string(row.body);
            if (row.body && std::string(row.body) == "REGISTER")
                req.body = nlohmann::json{{"token", w.enrolment_token}, {"hostname", "h"}, {"version", "0.1.0"}}.dump();
            if (row.body && std::string(row.body) == "SIGN_IN") req.body = sign_in_json(w.owner_email);
            // The same password again: what later rows sign in with stays valid.
            if (row.body && std::string(row.body) == "PASSWORD")
                req.body = nlohmann::json{{"password", kTablePassword}, {"current_password", kTablePassword}}.dump();
            req.headers = account_header(w.a);
            req.uid = w.uid[who];
            if (over_https(who)) {
                req.https = w.https;
                req.headers.emplace_back("Authorization", "Bearer " + w.token[who]);
            }
            auto r = d.send(req);
            INFO(kPrincipals[who] << ": " << row.method << ' ' << row.pattern << " -> " << r.describe());
            CHECK(r.status == row.expect[who]);
        }
    }
}

TEST_CASE("authorization table: every endpoint as root, owner, manager, deactivated and invited members",
          "[api][guard][table]") {
    check_table(root, other_account);
}

TEST_CASE("authorization table: every endpoint as another account's member, a non-member and API tokens",
          "[api][guard][table]") {
    check_table(other_account, deactivated_token);
}

TEST_CASE("authorization table: every endpoint with a deactivated member's token, a host token and a session",
          "[api][guard][table]") {
    check_table(deactivated_token, kWhoCount);
}
