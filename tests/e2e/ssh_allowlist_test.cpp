// End to end: [login] apply_ip_allowlist. With the account's IP allowlist active, sshd lets a
// member in only from a listed address (OpenSSH clients bound to 127.0.0.1 and 127.0.0.2),
// from the daemon's answer and from the state directory alike; root is never affected, and
// switching the list off lets everyone in again.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "tests/e2e/support/checks.h"
#include "tests/e2e/support/world.h"

using namespace portal::e2e;

namespace {

std::string state_header_text(const World& w) {
    std::ifstream in(w.state_header());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("ssh: the IP allowlist applied to SSH lets members in only from listed addresses", "[e2e][allowlist]") {
    WorldOptions opts;
    opts.apply_ip_allowlist = true;
    World w("allowlist", opts);
    Member alice = w.add_member("alice@example.com", "manager");
    REQUIRE(login_eventually(w, alice).ok());
    auto from = [&](const std::string& address) { return w.openssh(alice.unix_name, alice.key, "id -un", std::nullopt, address); };

    // Inactive: from anywhere.
    auto before = from("127.0.0.2");
    INFO(before.out << w.diagnostics());
    REQUIRE(before.status == 0);

    const auto entry = w.api().call("POST", "/v1/account/ip_allowlist/entries", nlohmann::json{{"cidr", "127.0.0.1/32"}},
                                    0, w.account_id());
    REQUIRE(entry.status == 201);
    REQUIRE(w.api().call("PUT", "/v1/account/ip_allowlist", nlohmann::json{{"active", true}}, 0, w.account_id()).status ==
            200);
    REQUIRE(wait_until([&] { return state_header_text(w).find("\"ssh_ip_allowlist\":[\"127.0.0.1/32\"]") != std::string::npos; },
                       5000ms));

    auto listed = from("127.0.0.1");
    INFO("from 127.0.0.1: " << listed.out << w.diagnostics());
    CHECK(listed.status == 0);
    CHECK(listed.out.find(alice.unix_name) != std::string::npos);
    auto unlisted = from("127.0.0.2");
    INFO("from 127.0.0.2: " << unlisted.out << w.diagnostics());
    CHECK(unlisted.status != 0);
    CHECK(unlisted.out.find("Your address is not in the account's IP allowlist.") != std::string::npos);
    CHECK(w.daemon_log().find("rhost=127.0.0.2 service=sshd decision=deny reason=ip_not_allowed") != std::string::npos);
    // root is not ours: the allowlist never touches it.
    CHECK(w.openssh("root", w.root_key(), "true", std::nullopt, "127.0.0.2").status == 0);

    SECTION("the fallback applies it too") {
        REQUIRE(w.stop_daemon() == 0);
        auto fallback_listed = from("127.0.0.1");
        INFO("fallback, from 127.0.0.1: " << fallback_listed.out << w.diagnostics());
        CHECK(fallback_listed.status == 0);
        auto fallback_unlisted = from("127.0.0.2");
        INFO("fallback, from 127.0.0.2: " << fallback_unlisted.out << w.diagnostics());
        CHECK(fallback_unlisted.status != 0);
        CHECK(fallback_unlisted.out.find("Your address is not in the account's IP allowlist.") != std::string::npos);
        w.start_daemon();
    }
    SECTION("switched off, everyone again") {
        REQUIRE(w.api().call("PUT", "/v1/account/ip_allowlist", nlohmann::json{{"active", false}}, 0, w.account_id())
                    .status == 200);
        REQUIRE(wait_until([&] { return state_header_text(w).find("ssh_ip_allowlist") == std::string::npos; }, 5000ms));
        auto again = from("127.0.0.2");
        INFO(again.out << w.diagnostics());
        CHECK(again.status == 0);
    }
}
