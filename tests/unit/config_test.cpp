#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "keyd/config/config.h"

namespace config_test {

using namespace portal;
using portal::config::ConfigError;
using portal::config::parse_config;

namespace {

// The error text of parsing `toml`, or "" when it parses.
std::string error_of(const std::string& toml) {
    try {
        parse_config(toml, "test.toml");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return {};
}

}  // namespace

TEST_CASE("config: defaults of the login, userdb and revoke sections") {
    auto c = parse_config("", "test.toml");
    CHECK(c.login_account_id.empty());
    CHECK(c.login_roles == std::vector<Role>{Role::owner, Role::manager});
    CHECK(c.login_helper_user == "portal-keyd-keys");
    CHECK(c.login_state_dir == "/run/portal-keyd/login-state");
    CHECK(c.login_fallback_grace == std::chrono::seconds(3600));
    CHECK(c.userdb_dropin_directory == "/run/userdb");
    CHECK(c.userdb_socket_directory == "/run/systemd/userdb");
    CHECK(c.userdb_service == "io.portal.keyd");
    CHECK(c.userdb_tfa_group == "portal-2fa");
    CHECK(c.userdb_role_groups.at(Role::owner) == std::vector<std::string>{"sudo"});
    CHECK(c.userdb_role_groups.at(Role::manager).empty());
    CHECK(c.userdb_role_groups.at(Role::support).empty());
    CHECK(c.userdb_tfa_group_gid == 59990);
    CHECK(c.revoke_terminate_sessions);
    CHECK(c.system_instance());
}

TEST_CASE("config: a private instance keeps userdb and revocation to itself by default") {
    auto c = parse_config("[daemon]\nruntime_directory = \"/tmp/t/run\"\n", "test.toml");
    CHECK_FALSE(c.system_instance());
    CHECK(c.userdb_dropin_directory == "/tmp/t/run/userdb");
    CHECK(c.userdb_socket_directory == "/tmp/t/run/userdb-provider");
    CHECK_FALSE(c.revoke_terminate_sessions);
    // Explicit values win (an e2e test in a mount namespace publishes to the real places).
    c = parse_config(R"([daemon]
runtime_directory = "/tmp/t/run"
[userdb]
dropin_directory = "/run/userdb"
socket_directory = "/run/systemd/userdb"
[revoke]
terminate_sessions = true
)",
                     "test.toml");
    CHECK(c.userdb_dropin_directory == "/run/userdb");
    CHECK(c.userdb_socket_directory == "/run/systemd/userdb");
    CHECK(c.revoke_terminate_sessions);
}

TEST_CASE("config: the state directory follows the runtime directory") {
    auto c = parse_config("[daemon]\nruntime_directory = \"/tmp/x/run\"\n", "test.toml");
    CHECK(c.login_state_dir == "/tmp/x/run/login-state");
    c = parse_config("[daemon]\nruntime_directory = \"/tmp/x/run\"\n[login]\nstate_dir = \"/srv/state\"\n", "t");
    CHECK(c.login_state_dir == "/srv/state");
}

TEST_CASE("config: the single state file of older versions is refused, naming what replaced it") {
    try {
        parse_config("[login]\nstate_file = \"/run/portal-keyd/login-state.json\"\n", "test.toml");
        FAIL("accepted login.state_file");
    } catch (const config::ConfigError& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("test.toml:2:14: login.state_file: replaced by login.state_dir"));
    }
}

TEST_CASE("config: login, userdb and revoke values are read") {
    auto c = parse_config(R"(
[login]
account_id = "acc_0123abc"
roles = ["owner", "support"]
helper_user = "keyhelper"
fallback_grace = 0

[userdb]
dropin_directory = "/tmp/u/dropins"
socket_directory = "/tmp/u/sockets"
service = "io.example.test"
tfa_group = "twofa"
tfa_group_gid = 4242
home_base = "/srv/home"
shell = "/bin/sh"

[userdb.role_groups]
owner = ["sudo", "adm"]
support = ["users"]

[revoke]
terminate_sessions = false
)",
                          "test.toml");
    CHECK(c.login_account_id == "acc_0123abc");
    CHECK(c.login_roles == std::vector<Role>{Role::owner, Role::support});
    CHECK(c.login_helper_user == "keyhelper");
    CHECK(c.login_fallback_grace == std::chrono::seconds(0));
    CHECK(c.userdb_dropin_directory == "/tmp/u/dropins");
    CHECK(c.userdb_socket_directory == "/tmp/u/sockets");
    CHECK(c.userdb_service == "io.example.test");
    CHECK(c.userdb_tfa_group == "twofa");
    CHECK(c.userdb_tfa_group_gid == 4242);
    CHECK(c.userdb_home_base == "/srv/home");
    CHECK(c.userdb_shell == "/bin/sh");
    CHECK(c.userdb_role_groups.at(Role::owner) == std::vector<std::string>{"sudo", "adm"});
    CHECK(c.userdb_role_groups.at(Role::manager).empty());  // untouched default
    CHECK(c.userdb_role_groups.at(Role::support) == std::vector<std::string>{"users"});
    CHECK_FALSE(c.revoke_terminate_sessions);

    // An explicit empty list is honoured (nobody logs in), not replaced by the default.
    CHECK(parse_config("[login]\nroles = []\n", "t").login_roles.empty());
    const auto st = parse_config("[store]\nchange_log_revisions = 5000\nchange_log_max_age = 86400\n", "t");
    CHECK(st.store_change_log_revisions == 5000);
    CHECK(st.store_change_log_max_age == std::chrono::seconds(86400));
    const auto ud = parse_config("[userdb]\ndropin_members = 0\ndropin_max_age = 7200\n", "t");
    CHECK(ud.userdb_dropin_members == 0);
    CHECK(ud.userdb_dropin_max_age == std::chrono::seconds(7200));
    CHECK(parse_config("", "t").userdb_dropin_members == 1000);
    CHECK(parse_config("[userdb.role_groups]\nowner = []\n", "t").userdb_role_groups.at(Role::owner).empty());
}

TEST_CASE("config: errors in the new sections name file, line and key") {
    struct Case {
        const char* toml;
        const char* expect;  // substring of the error
    };
    const Case cases[] = {
        {"[login]\nrole = [\"owner\"]\n", "test.toml:2:8: login.role: unknown key"},
        {"[login]\nroles = [\"owner\", \"admin\"]\n", "test.toml:2:19: login.roles[1]: unknown role \"admin\""},
        {"[login]\nroles = \"owner\"\n", "login.roles: must be an array of strings"},
        {"[login]\nroles = [\"owner\", 1]\n", "login.roles[1]: must be a string"},
        {"[login]\nroles = [\"owner\", \"owner\"]\n", "login.roles[1]: duplicate \"owner\""},
        {"[login]\nhelper_user = \"Bad User\"\n", "login.helper_user: \"Bad User\" is not a valid user name"},
        {"[login]\nhelper_user = 7\n", "test.toml:2:15: login.helper_user: must be a string"},
        {"[login]\nstate_dir = \"relative\"\n", "test.toml:2:13: login.state_dir: must be an absolute path"},
        {"[login]\nfallback_grace = -1\n", "login.fallback_grace: must be between 0 and 2592000"},
        {"[login]\nfallback_grace = \"1h\"\n", "login.fallback_grace: must be an integer"},
        {"[login]\naccount_id = \"acc/../x\"\n", "login.account_id: must be an account id"},
        {"[login.extra]\nx = 1\n", "login.extra: unknown key"},
        {"[userdb]\nservice = \"../evil\"\n", "userdb.service: must be a name"},
        {"[userdb]\nservice = \"\"\n", "userdb.service: must be a name"},
        {"[userdb]\ndropin_directory = \"run/userdb\"\n", "userdb.dropin_directory: must be an absolute path"},
        {"[userdb]\ntfa_group = \"2fa group\"\n", "userdb.tfa_group: \"2fa group\" is not a valid group name"},
        {"[userdb]\ntfa_group_gid = 12\n", "userdb.tfa_group_gid: must be between 1000 and 2147483646"},
        {"[userdb]\ntfa_group_gid = 250000\n", "userdb.tfa_group_gid: must be outside users.uid_min..uid_max"},
        {"[userdb]\ntfa_group_gid = 65534\n", "userdb.tfa_group_gid: 65534 and 65535 are reserved"},
        {"[userdb]\nshel = \"/bin/sh\"\n", "test.toml:2:8: userdb.shel: unknown key"},
        {"[userdb]\nrole_groups = 3\n", "userdb.role_groups: must be a table"},
        {"[userdb.role_groups]\nadmin = [\"sudo\"]\n", "test.toml:2:9: userdb.role_groups.admin: unknown role"},
        {"[userdb.role_groups]\nowner = \"sudo\"\n", "userdb.role_groups.owner: must be an array of strings"},
        {"[userdb.role_groups]\nowner = [\"sudo\", \"Wheel!\"]\n", "userdb.role_groups.owner[1]: \"Wheel!\" is not a valid user or group name"},
        {"[revoke]\nterminate_sessions = \"yes\"\n", "test.toml:2:22: revoke.terminate_sessions: must be true or false"},
        {"[revoke]\nterminate_sessions = 1\n", "revoke.terminate_sessions: must be true or false"},
        {"[revoke]\nterminate = true\n", "revoke.terminate: unknown key"},
        {"[revocation]\n", "revocation: unknown section"},
        {"[store]\nchange_log_revisions = 10\n", "store.change_log_revisions: must be between 1000 and 100000000"},
        {"[store]\nchange_log_max_age = 60\n", "store.change_log_max_age: must be between 3600 and"},
        {"[userdb]\ndropin_members = -1\n", "userdb.dropin_members: must be between 0 and 1000000"},
        {"[userdb]\ndropin_max_age = 10\n", "userdb.dropin_max_age: must be between 3600 and"},
        {"[store]\nchange_log_max_age = 1.5\n", "test.toml:2:22: store.change_log_max_age: must be an integer"},
        {"[store]\nchangelog = 1\n", "store.changelog: unknown key"},
        {"[listen]\nhttps = \"localhost:8443\"\n", "test.toml:2:9: listen.https: \"localhost\" is not an IPv4 address (host names are not accepted)"},
        {"[listen]\nhttps = \"::1:8443\"\n", "listen.https: an IPv6 address must be in brackets"},
        {"[listen]\nhttps = \"0.0.0.0\"\n", "listen.https: expected IPv4:port or [IPv6]:port"},
        {"[listen]\nhttps = \"[::]:65536\"\n", "listen.https: port must be a number from 0 to 65535"},
        {"[listen]\nhttps = [\"0.0.0.0:1\", \"[::1]:x\"]\n", "listen.https[1]: port must be a number"},
        {"[listen]\nhttps = [\"0.0.0.0:1\", \"0.0.0.0:1\"]\n", "listen.https[1]: duplicate"},
        {"[listen]\nhttps = 8443\n", "listen.https: must be an array of strings"},
        {"[listen]\ntls_certificate = \"/etc/c.pem\"\n", "listen.tls_certificate, listen.tls_private_key: give both or neither"},
        {"[listen]\ntls_private_key = \"key.pem\"\n", "listen.tls_private_key: must be an absolute path"},
        {"[listen]\nhandshake_timeout = 0\n", "listen.handshake_timeout: must be between 1 and 300"},
        {"[listen]\nmax_connections = 0\n", "listen.max_connections: must be between 1 and 1000000"},
        {"[listen]\nhttp = \"0.0.0.0:80\"\n", "listen.http: unknown key"},
    };
    for (const auto& c : cases) {
        INFO(c.toml);
        const std::string err = error_of(c.toml);
        CHECK_THAT(err, Catch::Contains(c.expect));
    }
}

TEST_CASE("config: [listen] is off by default and takes one address or several") {
    const auto d = parse_config("", "defaults");
    CHECK(d.listen_https.empty());
    CHECK(d.tls_certificate.empty());
    CHECK(d.self_signed_tls_directory() == d.state_directory / "tls");
    const auto one = parse_config("[listen]\nhttps = \"0.0.0.0:8443\"\n", "t");
    CHECK(one.listen_https == std::vector<std::string>{"0.0.0.0:8443"});
    const auto two = parse_config(
        "[listen]\nhttps = [\"0.0.0.0:8443\", \"[::]:8443\"]\ntls_certificate = \"/etc/c.pem\"\n"
        "tls_private_key = \"/etc/k.pem\"\nmax_connections = 5000\nmax_connections_per_address = 50\n"
        "handshake_timeout = 5\nidle_timeout = 60\n",
        "t");
    CHECK(two.listen_https == std::vector<std::string>{"0.0.0.0:8443", "[::]:8443"});
    CHECK(two.tls_certificate == "/etc/c.pem");
    CHECK(two.tls_private_key == "/etc/k.pem");
    CHECK(two.https_max_connections == 5000);
    CHECK(two.https_max_connections_per_address == 50);
    CHECK(two.https_handshake_timeout == std::chrono::seconds(5));
    CHECK(two.https_idle_timeout == std::chrono::seconds(60));
}

TEST_CASE("config: the shipped portal-keyd.toml parses to the defaults") {
    std::ifstream in(std::filesystem::path(PORTAL_SOURCE_DIR) / "config" / "portal-keyd.toml");
    REQUIRE(in);
    std::ostringstream text;
    text << in.rdbuf();
    auto c = parse_config(text.str(), "portal-keyd.toml");
    auto d = parse_config("", "defaults");
    CHECK(c.login_roles == d.login_roles);
    CHECK(c.login_state_dir == d.login_state_dir);
    CHECK(c.userdb_role_groups == d.userdb_role_groups);
    CHECK(c.revoke_terminate_sessions == d.revoke_terminate_sessions);
    CHECK(c.listen_https == d.listen_https);
}

TEST_CASE("config: [portal] makes an agent - its values are checked and name the field") {
    const auto d = parse_config("", "t");
    CHECK(d.authority_mode());
    CHECK(d.portal_token_file == d.state_directory / "host-token");
    CHECK(d.portal_offline_grace == std::chrono::seconds(7 * 86400));
    const auto a = parse_config(
        "[portal]\nurl = \"https://portal.example:8443\"\npin = \"sha256//" + std::string(43, 'A') +
            "=\"\nhost_token_file = \"/etc/t\"\noffline_grace = 3600\npoll_wait = 30\nretry_max = 5\ntfa_timeout = 2\n",
        "t");
    CHECK_FALSE(a.authority_mode());
    CHECK(a.portal_url == "https://portal.example:8443");
    CHECK(a.portal_token_file == "/etc/t");
    CHECK(a.portal_offline_grace == std::chrono::seconds(3600));
    CHECK(a.portal_poll_wait == std::chrono::seconds(30));
    CHECK(a.portal_retry_max == std::chrono::milliseconds(5000));
    CHECK(a.portal_tfa_timeout == std::chrono::milliseconds(2000));
    auto refused = [](const std::string& text) {
        try {
            parse_config(text, "t");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(refused("[portal]\nurl = \"http://portal:8443\"\n").find("portal.url") != std::string::npos);
    CHECK(refused("[portal]\nurl = \"https://portal:8443/v1\"\n").find("portal.url") != std::string::npos);
    CHECK(refused("[portal]\nurl = \"https://user@portal\"\n").find("portal.url") != std::string::npos);
    CHECK(refused("[portal]\npin = \"sha256//short=\"\n").find("portal.pin") != std::string::npos);
    CHECK(refused("[portal]\noffline_grace = 1\n").find("portal.offline_grace") != std::string::npos);
    CHECK(refused("[portal]\npoll_wait = 301\n").find("portal.poll_wait") != std::string::npos);
    CHECK(refused("[portal]\ntoken = \"x\"\n").find("portal.token") != std::string::npos);
    CHECK(refused("[portal]\noffline_grace = 100\npoll_wait = 60\n").find("portal.offline_grace") != std::string::npos);
    CHECK(refused("[portal]\ntfa_timeout = 5\n").find("portal.tfa_timeout") != std::string::npos);
}

TEST_CASE("config: [notifications] names the MTA program and the sender - both checked") {
    auto d = parse_config("", "defaults");
    CHECK(d.notifications_sendmail == "/usr/sbin/sendmail");
    CHECK(d.notifications_from.empty());  // portal-keyd@<host name> at start
    auto c = parse_config("[notifications]\nsendmail = \"\"\nfrom = \"keyd@portal.example\"\n", "t");
    CHECK(c.notifications_sendmail.empty());
    CHECK(c.notifications_from == "keyd@portal.example");
    CHECK(error_of("[notifications]\nsendmail = \"sendmail\"\n").find("notifications.sendmail") != std::string::npos);
    for (const char* from : {"keyd", "@portal.example", "keyd@", "a@b@c", "Keyd <keyd@portal.example>",
                             "keyd@portal.example\\nBcc: x@y", "k d@portal.example"}) {
        INFO(from);
        CHECK(error_of(std::string("[notifications]\nfrom = \"") + from + "\"\n").find("notifications.from") !=
              std::string::npos);
    }
    CHECK(error_of("[notifications]\nsmtp = \"x\"\n").find("smtp") != std::string::npos);
}

}  // namespace config_test
