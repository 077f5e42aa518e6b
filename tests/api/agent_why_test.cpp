// GET /v1/server/why on an agent: answered by the agent itself, from its own login path (the
// synced state), with the same guard as an authority's.
#include <catch2/catch.hpp>

#include <string>

#include "tests/api/support/agents.h"

using namespace portal::test;

TEST_CASE("agent API: why is answered from the agent's own login path", "[api][agent][why]") {
    Portal p = start_portal("why-portal", free_loopback_port());
    const Member mgr = add_member(*p.authority, p.seed.account_id, "why-mgr@example.com", "manager");
    const auto key = ssh_keygen(p.authority->dir(), "why-mgr");
    REQUIRE(p.authority->post("/v1/ssh_keys", {{"name", "desk"}, {"public_key", key.public_line}}, mgr.uid).status == 201);
    auto agent = start_agent("why-agent", p);
    REQUIRE(eventually([&] { return agent_server(*agent)["sync"]["revision"] == authority_revision(p); }));
    const std::string mine = mgr.json.at("unix_name"), owners = p.seed.owner.json.at("unix_name");

    HttpResult root;
    REQUIRE(eventually([&] {
        root = agent->get("/v1/server/why?user=" + mine + "&key=MD5:" + key.md5);
        return root.status == 200 && root.json["member"].is_object();
    }));
    INFO(root.describe());
    CHECK(root.json["allow"] == true);
    CHECK(root.json["member"]["uid"] == mgr.uid);
    CHECK(root.json["key_match"]["matches"] == true);
    CHECK(root.json["state"]["account_id"] == p.seed.account_id);
    CHECK(root.json["rules"].size() == 9);

    CHECK(agent->get("/v1/server/why?user=" + mine, mgr.uid).status == 200);
    CHECK(agent->get("/v1/server/why?user=" + owners, mgr.uid).status == 403);
    CHECK(agent->get("/v1/server/why?user=" + mine + "&from=nowhere").status == 422);
}
