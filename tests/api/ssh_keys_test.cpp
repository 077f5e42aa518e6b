// /v1/ssh_keys: keys from ssh-keygen, fingerprints as ssh-keygen prints them, visibility by
// role, uniqueness of names and material, validation.
#include <catch2/catch.hpp>
#include <set>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

std::string key_path(const std::string& fp) { return "/v1/ssh_keys/" + fp; }

std::set<std::string> fingerprints(const HttpResult& r) {
    std::set<std::string> out;
    if (r.json.is_array())
        for (const auto& k : r.json) out.insert(k.value("fingerprint", ""));
    return out;
}

}  // namespace

TEST_CASE("ssh keys: add from ssh-keygen, fingerprints match ssh-keygen", "[api][ssh_keys]") {
    Daemon d("keys-add");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    auto ed = ssh_keygen(d.dir(), "id_ed25519", "ed25519", "mgr@laptop");
    auto ecdsa = ssh_keygen(d.dir(), "id_ecdsa", "ecdsa", "mgr@desktop");
    auto rsa = ssh_keygen(d.dir(), "id_rsa", "rsa", "mgr@old");

    auto r = d.post("/v1/ssh_keys", {{"name", "laptop"}, {"public_key", ed.public_line}, {"labels", {{"env", "prod"}}}},
                    mgr.uid);
    INFO(r.describe());
    REQUIRE(r.status == 201);
    const auto& k = r.json;
    std::set<std::string> fields;
    for (auto it = k.begin(); it != k.end(); ++it) fields.insert(it.key());
    CHECK(fields == std::set<std::string>{"name", "fingerprint", "fingerprint_sha256", "public_key", "type", "bits",
                                          "user_id", "labels", "created_at", "updated_at"});
    CHECK(k.at("name") == "laptop");
    CHECK(k.at("fingerprint") == ed.md5);
    CHECK(k.at("fingerprint_sha256") == ed.sha256);
    CHECK(k.at("type") == "ssh-ed25519");
    CHECK(k.at("bits") == 256);
    CHECK(k.at("user_id") == mgr.id);
    CHECK(k.at("labels") == nlohmann::json{{"env", "prod"}});
    // Normalised: type and blob, the comment dropped.
    CHECK(k.at("public_key") == ed.public_line.substr(0, ed.public_line.rfind(' ')));

    auto got = d.get(key_path(ed.md5), mgr.uid);
    CHECK(got.status == 200);
    CHECK(got.json == k);

    for (const auto* g : {&ecdsa, &rsa}) {
        auto add = d.post("/v1/ssh_keys", {{"name", g->md5.substr(0, 8)}, {"public_key", g->public_line}}, mgr.uid);
        INFO(add.describe());
        REQUIRE(add.status == 201);
        CHECK(add.json.at("fingerprint") == g->md5);
        CHECK(add.json.at("fingerprint_sha256") == g->sha256);
        CHECK(add.json.at("bits") == g->bits);
        CHECK(add.json.at("labels") == nlohmann::json::object());
    }
    CHECK(header_long(d.get("/v1/ssh_keys", mgr.uid), "x-total") == 3);

    // Update name and labels; the key material is immutable.
    auto upd = d.put(key_path(ed.md5), {{"name", "work laptop"}, {"labels", {{"env", "dev"}, {"team", "ops"}}}}, mgr.uid);
    INFO(upd.describe());
    REQUIRE(upd.status == 200);
    CHECK(upd.json.at("name") == "work laptop");
    CHECK(upd.json.at("labels") == nlohmann::json{{"env", "dev"}, {"team", "ops"}});
    CHECK(upd.json.at("fingerprint") == ed.md5);
    auto immut = d.put(key_path(ed.md5), {{"public_key", ecdsa.public_line}}, mgr.uid);
    CHECK(immut.status == 422);
    CHECK(immut.json["errors"].contains("public_key"));

    // label_selector and user_id filters.
    auto sel = d.get("/v1/ssh_keys?label_selector=team%3Dops", mgr.uid);
    INFO(sel.describe());
    CHECK(fingerprints(sel) == std::set<std::string>{ed.md5});
    CHECK(header_long(sel, "x-total") == 1);
    CHECK(d.get("/v1/ssh_keys?label_selector=team%3Ddev", mgr.uid).json.empty());
    CHECK(d.get("/v1/ssh_keys?label_selector=novalue", mgr.uid).status == 400);

    // Delete: 204, then 404.
    auto del = d.del(key_path(rsa.md5), mgr.uid);
    CHECK(del.status == 204);
    CHECK(del.body.empty());
    CHECK(d.get(key_path(rsa.md5), mgr.uid).status == 404);
    CHECK(d.del(key_path(rsa.md5), mgr.uid).status == 404);
    CHECK(d.put(key_path(rsa.md5), {{"name", "x"}}, mgr.uid).status == 404);
    CHECK(header_long(d.get("/v1/ssh_keys", mgr.uid), "x-total") == 2);
}

TEST_CASE("ssh keys: managers see and manage only their own keys, owners all", "[api][ssh_keys][roles]") {
    Daemon d("keys-roles");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    auto mgr2 = add_member(d, seed.account_id, "mgr2@example.com", "manager");
    auto mine = ssh_keygen(d.dir(), "mgr", "ed25519");
    auto theirs = ssh_keygen(d.dir(), "mgr2", "ed25519");
    auto owners = ssh_keygen(d.dir(), "owner", "ed25519");

    REQUIRE(d.post("/v1/ssh_keys", {{"name", "m1"}, {"public_key", mine.public_line}}, mgr.uid).status == 201);
    REQUIRE(d.post("/v1/ssh_keys", {{"name", "m2"}, {"public_key", theirs.public_line}}, mgr2.uid).status == 201);
    REQUIRE(d.post("/v1/ssh_keys", {{"name", "o1"}, {"public_key", owners.public_line}}, seed.owner.uid).status == 201);

    auto mgr_list = d.get("/v1/ssh_keys", mgr.uid);
    INFO(mgr_list.describe());
    CHECK(fingerprints(mgr_list) == std::set<std::string>{mine.md5});
    CHECK(header_long(mgr_list, "x-total") == 1);
    CHECK(d.get("/v1/ssh_keys?user_id=" + mgr2.id, mgr.uid).json.empty());
    CHECK(header_long(d.get("/v1/ssh_keys?user_id=" + mgr2.id, mgr.uid), "x-total") == 0);

    auto owner_list = d.get("/v1/ssh_keys", seed.owner.uid);
    CHECK(fingerprints(owner_list) == std::set<std::string>{mine.md5, theirs.md5, owners.md5});
    CHECK(header_long(owner_list, "x-total") == 3);
    CHECK(fingerprints(d.get("/v1/ssh_keys?user_id=" + mgr2.id, seed.owner.uid)) == std::set<std::string>{theirs.md5});
    CHECK(header_long(d.get("/v1/ssh_keys"), "x-total") == 3);  // root

    // Another member's key is "not found" for a manager, whatever the verb.
    for (const auto& fp : {theirs.md5, owners.md5}) {
        INFO(fp);
        auto g = d.get(key_path(fp), mgr.uid);
        CHECK(g.status == 404);
        CHECK(g.json.value("code", "") == "NOT_FOUND");
        CHECK(d.put(key_path(fp), {{"name", "stolen"}}, mgr.uid).status == 404);
        CHECK(d.del(key_path(fp), mgr.uid).status == 404);
    }
    // Adding a key for someone else is owner-only.
    auto for_other = d.post("/v1/ssh_keys",
                            {{"name", "planted"}, {"public_key", fresh_ed25519_line()}, {"user_id", mgr2.id}}, mgr.uid);
    INFO(for_other.describe());
    CHECK(for_other.status == 403);
    // Naming oneself is fine.
    CHECK(d.post("/v1/ssh_keys", {{"name", "self"}, {"public_key", fresh_ed25519_line()}, {"user_id", mgr.id}}, mgr.uid)
              .status == 201);

    // Owners manage everyone's keys.
    auto planted = d.post("/v1/ssh_keys",
                          {{"name", "given"}, {"public_key", fresh_ed25519_line()}, {"user_id", mgr2.id}}, seed.owner.uid);
    INFO(planted.describe());
    REQUIRE(planted.status == 201);
    CHECK(planted.json.at("user_id") == mgr2.id);
    CHECK(d.put(key_path(theirs.md5), {{"name", "renamed by owner"}}, seed.owner.uid).status == 200);
    CHECK(d.get(key_path(theirs.md5), mgr2.uid).json.value("name", "") == "renamed by owner");
    CHECK(d.del(key_path(theirs.md5), seed.owner.uid).status == 204);
    CHECK(d.post("/v1/ssh_keys", {{"name", "x"}, {"public_key", fresh_ed25519_line()}, {"user_id", "usr_nope"}},
                 seed.owner.uid)
              .json["errors"]
              .contains("user_id"));
    // root must say whose key it adds.
    auto root_add = d.post("/v1/ssh_keys", {{"name", "r"}, {"public_key", fresh_ed25519_line()}});
    CHECK(root_add.status == 422);
    CHECK(root_add.json["errors"].contains("user_id"));
    CHECK(d.post("/v1/ssh_keys", {{"name", "r"}, {"public_key", fresh_ed25519_line()}, {"user_id", mgr.id}}).status ==
          201);

    // Removing a member removes their keys in the account.
    REQUIRE(d.del("/v1/account/users/" + mgr2.id, seed.owner.uid).status == 204);
    CHECK(d.get("/v1/ssh_keys?user_id=" + mgr2.id, seed.owner.uid).json.empty());
    CHECK(d.get(key_path(planted.json.at("fingerprint")), seed.owner.uid).status == 404);
}

TEST_CASE("ssh keys: duplicates are 409, invalid keys 422", "[api][ssh_keys]") {
    Daemon d("keys-409");
    auto seed = seed_account(d);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    auto k1 = ssh_keygen(d.dir(), "k1", "ed25519");
    REQUIRE(d.post("/v1/ssh_keys", {{"name", "laptop"}, {"public_key", k1.public_line}}, mgr.uid).status == 201);

    SECTION("duplicate name in the account") {
        auto dup = d.post("/v1/ssh_keys", {{"name", "laptop"}, {"public_key", fresh_ed25519_line()}}, seed.owner.uid);
        INFO(dup.describe());
        CHECK(dup.status == 409);
        CHECK(dup.json.value("code", "") == "MUST_BE_UNIQUE");
        CHECK(dup.json["errors"].contains("name"));
        // Renaming onto an existing name as well.
        auto other = d.post("/v1/ssh_keys", {{"name", "desktop"}, {"public_key", fresh_ed25519_line()}}, mgr.uid);
        REQUIRE(other.status == 201);
        auto rename = d.put(key_path(other.json.at("fingerprint")), {{"name", "laptop"}}, mgr.uid);
        INFO(rename.describe());
        CHECK(rename.status == 409);
        CHECK(rename.json["errors"].contains("name"));
    }
    SECTION("duplicate key material in the account (comment and name differ)") {
        std::string same = k1.public_line.substr(0, k1.public_line.rfind(' ')) + " another@comment";
        auto dup = d.post("/v1/ssh_keys", {{"name", "copy"}, {"public_key", same}}, seed.owner.uid);
        INFO(dup.describe());
        CHECK(dup.status == 409);
        CHECK(dup.json.value("code", "") == "MUST_BE_UNIQUE");
        CHECK(dup.json["errors"].contains("public_key"));
    }
    SECTION("the same key in another account is fine") {
        auto other = seed_account(d, "Globex", "globex");
        auto r = d.post("/v1/ssh_keys", {{"name", "laptop"}, {"public_key", k1.public_line}}, other.owner.uid);
        INFO(r.describe());
        CHECK(r.status == 201);
        // ...and each account sees only its own copy: a key of another account is 404.
        auto only_other = d.post("/v1/ssh_keys", {{"name", "x"}, {"public_key", fresh_ed25519_line()}}, other.owner.uid);
        REQUIRE(only_other.status == 201);
        CHECK(d.get(key_path(only_other.json.at("fingerprint")), seed.owner.uid).status == 404);
        CHECK(d.del(key_path(only_other.json.at("fingerprint")), seed.owner.uid).status == 404);
    }
    SECTION("invalid keys name public_key") {
        const std::string blob = k1.public_line.substr(k1.public_line.find(' ') + 1,
                                                       k1.public_line.rfind(' ') - k1.public_line.find(' ') - 1);
        for (const std::string& bad : {std::string("not a key"), std::string("ssh-ed25519 AAAA"),
                                      "ssh-rsa " + blob,                       // type word and blob disagree
                                      "ssh-ed25519 " + blob + "AAAA",          // trailing junk in the blob
                                      "command=\"/bin/sh\" " + k1.public_line, // options are not a key
                                      std::string("ssh-dss AAAAB3NzaC1kc3MAAACBAP")}) {
            auto r = d.post("/v1/ssh_keys", {{"name", "bad"}, {"public_key", bad}}, mgr.uid);
            INFO(bad << ": " << r.describe());
            CHECK(r.status == 422);
            CHECK(r.json.value("code", "") == "UNPROCESSABLE_ENTITY");
            CHECK(r.json["errors"].contains("public_key"));
        }
        CHECK(header_long(d.get("/v1/ssh_keys", mgr.uid), "x-total") == 1);
    }
    SECTION("unknown fingerprints") {
        CHECK(d.get(key_path("00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"), seed.owner.uid).status == 404);
        CHECK(d.get(key_path("garbage"), seed.owner.uid).status == 404);
        CHECK(d.del(key_path("garbage"), seed.owner.uid).status == 404);
    }
    SECTION("bad labels") {
        auto r = d.post("/v1/ssh_keys", {{"name", "l"}, {"public_key", fresh_ed25519_line()}, {"labels", {{"a", 1}}}},
                        mgr.uid);
        CHECK(r.status == 422);
        CHECK(r.json["errors"].contains("labels"));
        auto r2 = d.post("/v1/ssh_keys",
                         {{"name", "l"}, {"public_key", fresh_ed25519_line()}, {"labels", {{"a=b", "c"}}}}, mgr.uid);
        CHECK(r2.status == 422);
    }
}

TEST_CASE("ssh keys: pagination", "[api][ssh_keys][pagination]") {
    Daemon d("keys-pages");
    auto seed = seed_account(d);
    for (int i = 0; i < 23; ++i)
        REQUIRE(d.post("/v1/ssh_keys", {{"name", "k" + std::to_string(i)}, {"public_key", fresh_ed25519_line()}},
                       seed.owner.uid)
                    .status == 201);
    auto p2 = d.get("/v1/ssh_keys?per_page=10&page=3", seed.owner.uid);
    CHECK(p2.json.size() == 3);
    CHECK(header_long(p2, "x-total") == 23);
    CHECK(header_long(p2, "x-total-pages") == 3);
    CHECK(d.get("/v1/ssh_keys?per_page=0", seed.owner.uid).status == 400);
    CHECK(d.get("/v1/ssh_keys?per_page=101", seed.owner.uid).status == 400);
    auto all = list_all(d, "/v1/ssh_keys", seed.owner.uid);
    CHECK(all.consistent);
    CHECK(all.items.size() == 23);
}
