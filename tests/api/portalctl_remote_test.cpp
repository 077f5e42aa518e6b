// portalctl against a remote authority (issue 10): `tokens create` on the socket as the
// member, then `--url https://... --pin ...` with the token from $PORTAL_TOKEN or a file, the
// real binary against the real daemon's HTTPS listener.
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "keyd/store/timestamp.h"
#include "tests/api/support/agents.h"
#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

struct Run {
    int status = -1;
    std::string out;  // stdout and stderr
};

Run portalctl(const std::string& env_and_args) {
    Run r;
    r.out = run_command("env -u PORTAL_URL -u PORTAL_PIN -u PORTAL_TOKEN " + env_and_args + " 2>&1", &r.status);
    return r;
}

}  // namespace

TEST_CASE("portalctl: tokens made on the socket drive a remote authority over HTTPS", "[api][tokens][https][portalctl]") {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\n";
    Daemon d("ctl-remote", o);
    const auto seed = seed_account(d);
    const HttpsTarget https = https_listener(d);
    const std::string ctl = PORTALCTL_BIN;
    const std::string as_owner = "setpriv --reuid " + std::to_string(seed.owner.uid) + " --regid " +
                                 std::to_string(seed.owner.uid) + " --clear-groups " + ctl + " --socket " +
                                 shell_quote(d.socket().string());

    Run made = portalctl(as_owner + " --json tokens create laptop --access full --expires-in 3600");
    INFO(made.out);
    REQUIRE(made.status == 0);
    const auto created = nlohmann::json::parse(made.out);
    const std::string token = created.at("token");
    Run human = portalctl(as_owner + " tokens create reader");
    INFO(human.out);
    CHECK(human.status == 0);
    CHECK(human.out.find("shown only now") != std::string::npos);

    const std::string remote = ctl + " --url https://" + https.address + " --pin " + shell_quote(https.pin);

    SECTION("the token from the environment acts as its member") {
        Run me = portalctl("PORTAL_TOKEN=" + token + " " + remote + " --json profile show");
        INFO(me.out);
        REQUIRE(me.status == 0);
        CHECK(nlohmann::json::parse(me.out)["id"] == seed.owner.id);
        Run status = portalctl("PORTAL_TOKEN=" + token + " " + remote + " status");
        INFO(status.out);
        CHECK(status.status == 0);
        CHECK(status.out.find("reachable at https://" + https.address) != std::string::npos);
        CHECK(status.out.find(https.pin) != std::string::npos);
        Run list = portalctl("PORTAL_TOKEN=" + token + " " + remote + " tokens list");
        CHECK(list.out.find("laptop") != std::string::npos);
        CHECK(list.out.find(token.substr(7)) == std::string::npos);
    }
    SECTION("the token from a file (or stdin), never from argv") {
        const auto file = d.dir() / "token";
        std::ofstream(file) << token << "\n";
        Run me = portalctl(remote + " --token-file " + shell_quote(file.string()) + " --json profile show");
        INFO(me.out);
        CHECK(me.status == 0);
        Run piped = portalctl("echo " + token + " | " + remote + " --token-file - --json profile show");
        INFO(piped.out);
        CHECK(piped.status == 0);
        Run argv = portalctl(remote + " --token " + token + " profile show");
        CHECK(argv.status == 2);  // no such option
    }
    SECTION("no token, another pin, plain http: refused before anything is done") {
        Run none = portalctl(remote + " profile show");
        INFO(none.out);
        CHECK(none.status == 1);
        CHECK(none.out.find("HTTP 401") != std::string::npos);
        Run pin = portalctl("PORTAL_TOKEN=" + token + " " + ctl + " --url https://" + https.address +
                            " --pin sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= profile show");
        INFO(pin.out);
        CHECK(pin.status == 3);
        CHECK(pin.out.find("does not match --pin") != std::string::npos);
        Run unpinned = portalctl("PORTAL_TOKEN=" + token + " " + ctl + " --url https://" + https.address + " profile show");
        INFO(unpinned.out);
        CHECK(unpinned.status == 3);
        CHECK(unpinned.out.find("not trusted") != std::string::npos);
        Run plain = portalctl("PORTAL_TOKEN=" + token + " " + ctl + " --url http://" + https.address + " profile show");
        INFO(plain.out);
        CHECK(plain.status == 2);
        CHECK(plain.out.find("https://") != std::string::npos);
    }
    SECTION("the token's own limits hold through portalctl") {
        Run more = portalctl("PORTAL_TOKEN=" + token + " " + remote + " tokens create more");
        INFO(more.out);
        CHECK(more.status == 6);
        CHECK(more.out.find("API tokens cannot create API tokens") != std::string::npos);
    }
}

TEST_CASE("portalctl: hosts enrol, list, delete and the login history", "[api][hosts][portalctl]") {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\n";
    Daemon d("ctl-hosts", o);
    const auto seed = seed_account(d);
    const HttpsTarget https = https_listener(d);
    const std::string ctl = std::string(PORTALCTL_BIN) + " --socket " + shell_quote(d.socket().string());

    Run enrol = portalctl(ctl + " --json hosts enrol --name web-1 --expires-in 600");
    INFO(enrol.out);
    REQUIRE(enrol.status == 0);
    const std::string token = nlohmann::json::parse(enrol.out).at("token");
    auto reg = https_request(https, "", "POST", "/v1/hosts/register",
                             nlohmann::json{{"token", token}, {"hostname", "web-1"}, {"version", "0.1.0"}}.dump());
    REQUIRE(reg.status == 201);
    const std::string host_id = reg.json.at("host_id");

    Run list = portalctl(ctl + " hosts list");
    INFO(list.out);
    CHECK(list.status == 0);
    CHECK(list.out.find("web-1") != std::string::npos);
    CHECK(list.out.find(host_id) != std::string::npos);

    REQUIRE(https_request(https, reg.json.at("host_token"), "POST", "/v1/iam/login_events",
                          R"([{"id":"e1","at":"2026-12-02T10:00:00Z","unix_name":"alice","ip":"192.0.2.1","method":"publickey","decision":"deny","reason":"not_portal_user"}])")
                .status == 200);
    Run logins = portalctl(ctl + " logins");
    INFO(logins.out);
    CHECK(logins.status == 0);
    CHECK(logins.out.find("not_portal_user") != std::string::npos);

    Run del = portalctl(ctl + " hosts delete " + host_id);
    CHECK(del.status == 0);
    CHECK(portalctl(ctl + " hosts show " + host_id).status == 5);
}

TEST_CASE("portalctl: allowlist and password", "[api][allowlist][sessions][portalctl]") {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\n";
    Daemon d("ctl-allowlist", o);
    const auto seed = seed_account(d);
    const HttpsTarget https = https_listener(d);
    const std::string ctl = std::string(PORTALCTL_BIN) + " --socket " + shell_quote(d.socket().string());

    Run added = portalctl(ctl + " --json allowlist add 192.0.2.0/24 --comment office");
    INFO(added.out);
    REQUIRE(added.status == 0);
    const std::string id = nlohmann::json::parse(added.out).at("id");
    Run bad = portalctl(ctl + " allowlist add 10.0.0.1/8");
    CHECK(bad.status != 0);
    CHECK(bad.out.find("cidr") != std::string::npos);
    CHECK(portalctl(ctl + " allowlist edit " + id).status != 0);  // nothing to change
    CHECK(portalctl(ctl + " allowlist edit " + id + " --comment 'main office'").status == 0);
    Run on = portalctl(ctl + " allowlist on");
    CHECK(on.status == 0);
    Run shown = portalctl(ctl + " allowlist show");
    INFO(shown.out);
    CHECK(shown.out.find("IP allowlist: active") != std::string::npos);
    CHECK(shown.out.find("192.0.2.0/24") != std::string::npos);
    CHECK(shown.out.find("main office") != std::string::npos);
    CHECK(portalctl(ctl + " allowlist off").status == 0);
    CHECK(portalctl(ctl + " allowlist remove " + id).status == 0);
    CHECK(d.get("/v1/account/ip_allowlist").json["entries"].empty());

    // The password comes from stdin (or the terminal), never from argv.
    const std::string as_owner = "setpriv --reuid " + std::to_string(seed.owner.uid) + " --regid " +
                                 std::to_string(seed.owner.uid) + " --clear-groups " + ctl;
    Run set = portalctl("sh -c " + shell_quote("printf 'first passphrase\\n' | " + as_owner + " password"));
    INFO(set.out);
    REQUIRE(set.status == 0);
    auto session = https_request(https, "", "POST", "/v1/auth/sessions",
                                 nlohmann::json{{"email", seed.owner.email}, {"password", "first passphrase"}}.dump());
    REQUIRE(session.status == 201);
    // Over HTTPS with the session: the new password, then the current one.
    const std::string remote = std::string(PORTALCTL_BIN) + " --url https://" + https.address + " --pin " + shell_quote(https.pin);
    Run changed = portalctl("sh -c " + shell_quote("printf 'second passphrase\\nfirst passphrase\\n' | PORTAL_TOKEN=" +
                                             session.json.at("token").get<std::string>() + " " + remote + " password"));
    INFO(changed.out);
    CHECK(changed.status == 0);
    CHECK(https_request(https, "", "POST", "/v1/auth/sessions",
                        nlohmann::json{{"email", seed.owner.email}, {"password", "second passphrase"}}.dump())
              .status == 201);
}

TEST_CASE("portalctl: contacts and support tickets", "[api][contacts][tickets][portalctl]") {
    Daemon d("ctl-support");
    const auto seed = seed_account(d);
    const auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const std::string ctl = std::string(PORTALCTL_BIN) + " --socket " + shell_quote(d.socket().string());
    const std::string as_manager = "setpriv --reuid " + std::to_string(mgr.uid) + " --regid " + std::to_string(mgr.uid) +
                                   " --clear-groups " + ctl;

    Run add = portalctl(ctl + " --json contacts add --name 'Sec team' --email sec@example.com --phone +15550100 "
                              "--roles security,abuse");
    INFO(add.out);
    REQUIRE(add.status == 0);
    const auto contact = nlohmann::json::parse(add.out);
    CHECK(contact.at("notification_roles") == nlohmann::json{"abuse", "security"});
    const std::string cid = contact.at("id");
    Run listed = portalctl(as_manager + " contacts list");
    INFO(listed.out);
    CHECK(listed.status == 0);
    CHECK(listed.out.find("Sec team") != std::string::npos);
    CHECK(listed.out.find("abuse,security") != std::string::npos);
    CHECK(portalctl(as_manager + " contacts remove " + cid).status == 6);  // owners only
    Run bad = portalctl(ctl + " contacts set " + cid + " --phone 555-0100");
    CHECK(bad.status == 1);
    CHECK(bad.out.find("phone") != std::string::npos);
    CHECK(portalctl(ctl + " contacts set " + cid + " --roles ''").status == 0);
    CHECK(portalctl(ctl + " --json contacts show " + cid).out.find(R"("notification_roles":[])") != std::string::npos);
    CHECK(portalctl(ctl + " contacts remove " + cid).status == 0);
    CHECK(portalctl(ctl + " contacts show " + cid).status == 5);

    Run opened = portalctl(as_manager + " --json tickets open --subject 'Disk full' --body 'Since 10:00.'");
    INFO(opened.out);
    REQUIRE(opened.status == 0);
    const std::string tid = nlohmann::json::parse(opened.out).at("id");
    // From stdin, several lines. A terminal escape is refused by the API (text is text), so
    // nothing stored can reach a reader's terminal as a control sequence.
    Run escape = portalctl("printf 'red \\033[31m\\n' | " + ctl + " tickets reply " + tid);
    INFO(escape.out);
    CHECK(escape.status == 1);
    CHECK(escape.out.find("body") != std::string::npos);
    Run reply = portalctl("printf 'line one\\n\\tline two\\n' | " + ctl + " tickets reply " + tid);
    INFO(reply.out);
    CHECK(reply.status == 0);
    Run shown = portalctl(as_manager + " tickets show " + tid);
    INFO(shown.out);
    CHECK(shown.status == 0);
    CHECK(shown.out.find("Since 10:00.") != std::string::npos);
    CHECK(shown.out.find("line one\n\\tline two\n") != std::string::npos);  // a tab shown as \t
    CHECK(portalctl(as_manager + " tickets close " + tid).status == 0);
    Run late = portalctl(as_manager + " tickets reply " + tid + " --body 'more'");
    CHECK(late.status == 7);
    CHECK(late.out.find("closed") != std::string::npos);
    Run closed = portalctl(ctl + " tickets list --status closed");
    CHECK(closed.out.find("Disk full") != std::string::npos);
    CHECK(portalctl(ctl + " tickets list --status pending").status == 2);
}

TEST_CASE("portalctl: accounts use selects the account later commands act on", "[api][accounts][portalctl]") {
    Daemon d("ctl-use");
    const auto a = seed_account(d, "Alpha", "alpha");
    const auto b = seed_account(d, "Beta", "beta");
    // Alpha's owner is also a manager of Beta.
    const auto in_b = add_member(d, b.account_id, a.owner.email, "manager");
    REQUIRE(in_b.id == a.owner.id);
    add_member(d, b.account_id, "only-in-beta@example.com", "manager");
    const auto config = d.dir() / "alpha-owner-config";
    std::filesystem::create_directories(config);
    REQUIRE(::chown(config.c_str(), a.owner.uid, a.owner.uid) == 0);
    const std::string me = "XDG_CONFIG_HOME=" + shell_quote(config.string()) + " setpriv --reuid " +
                           std::to_string(a.owner.uid) + " --regid " + std::to_string(a.owner.uid) + " --clear-groups " +
                           PORTALCTL_BIN + " --socket " + shell_quote(d.socket().string());

    Run first = portalctl(me + " users list");
    INFO(first.out);
    CHECK(first.out.find("Account: Alpha (" + a.account_id + ")") != std::string::npos);
    CHECK(first.out.find("only-in-beta") == std::string::npos);

    Run use = portalctl(me + " accounts use " + b.account_id);
    INFO(use.out);
    REQUIRE(use.status == 0);
    CHECK(use.out.find("Using account Beta") != std::string::npos);
    struct stat st {};
    REQUIRE(::stat((config / "portalctl" / "account").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    Run now = portalctl(me + " users list");
    INFO(now.out);
    CHECK(now.out.find("Account: Beta (" + b.account_id + ")") != std::string::npos);
    CHECK(now.out.find("only-in-beta") != std::string::npos);
    // --account still picks another for one command; as a manager of Beta, no owner's rights there.
    CHECK(portalctl(me + " --account " + a.account_id + " users list").out.find("Account: Alpha") != std::string::npos);
    CHECK(portalctl(me + " users add --email x@example.com --name X --role manager").status == 6);

    Run foreign = portalctl(me + " accounts use acc_notmine");
    CHECK(foreign.status == 5);
    CHECK(portalctl(me + " users list").out.find("Account: Beta") != std::string::npos);  // unchanged
    CHECK(portalctl(me + " accounts use --none").status == 0);
    CHECK(portalctl(me + " users list").out.find("Account: Alpha") != std::string::npos);
}

TEST_CASE("portalctl: support access granted for a time and revoked - support staff marked by root",
          "[api][support][portalctl]") {
    Daemon d("ctl-support-access");
    const auto customer = seed_account(d, "Customer", "cust");
    const auto mgr = add_member(d, customer.account_id, "mgr@cust.example", "manager");
    const auto provider = seed_account(d, "Provider", "prov");
    const auto staff = add_member(d, provider.account_id, "staff@provider.example", "manager");
    const std::string ctl = std::string(PORTALCTL_BIN) + " --socket " + shell_quote(d.socket().string());
    const auto as_uid = [&](uid_t uid) {
        return "setpriv --reuid " + std::to_string(uid) + " --regid " + std::to_string(uid) + " --clear-groups " + ctl;
    };
    const std::string as_owner = as_uid(customer.owner.uid), as_manager = as_uid(mgr.uid);
    const auto membership_in_customer = [&] {
        auto r = d.get("/v1/account/users/" + staff.id, 0, account_header(customer.account_id));
        return r.status == 200 ? r.json.at("role").get<std::string>() + "/" + r.json.at("status").get<std::string>()
                               : std::to_string(r.status);
    };

    // Root marks the staff member: by email, as a member of the provider's account.
    Run marked = portalctl(ctl + " --account " + provider.account_id + " support staff add staff@provider.example");
    INFO(marked.out);
    REQUIRE(marked.status == 0);
    CHECK(marked.out.find(staff.id) != std::string::npos);
    Run listed = portalctl(ctl + " --json support staff list");
    INFO(listed.out);
    REQUIRE(listed.status == 0);
    const auto staff_list = nlohmann::json::parse(listed.out);
    REQUIRE(staff_list.is_array());
    REQUIRE(staff_list.size() == 1);
    CHECK(staff_list[0].at("user_id") == staff.id);
    CHECK(staff_list[0].at("email") == "staff@provider.example");
    CHECK(staff_list[0].at("unix_name").is_string());
    CHECK(staff_list[0].at("marked_at").is_string());
    Run table = portalctl(ctl + " support staff list");
    CHECK(table.status == 0);
    CHECK(table.out.find("staff@provider.example") != std::string::npos);
    CHECK(portalctl(as_owner + " support staff list").status == 6);  // root's alone
    CHECK(portalctl(as_owner + " support staff add " + mgr.id).status == 6);
    CHECK(portalctl(ctl + " support staff add usr_nobody").status == 5);

    // Durations portalctl refuses itself: a usage error naming --for, nothing sent.
    for (const char* bad : {"0", "0h", "-2h", "2", "2x", "h", "1.5h", "2 h", "31d", "721h", "99999999999d"}) {
        Run r = portalctl(as_owner + " support grant --for=" + shell_quote(bad));
        INFO(bad << ": " << r.out);
        CHECK(r.status == 2);
        CHECK(r.out.find("--for") != std::string::npos);
    }
    CHECK(portalctl(as_owner + " support grant --for -2h").status == 2);
    CHECK(portalctl(as_owner + " support grant").status == 2);  // neither --until nor --for
    Run both = portalctl(as_owner + " support grant --for 2h --until 2030-01-01T00:00:00Z");
    INFO(both.out);
    CHECK(both.status == 2);
    Run junk_time = portalctl(as_owner + " support grant --until tomorrow");
    CHECK(junk_time.status == 2);
    CHECK(junk_time.out.find("--until") != std::string::npos);
    // Well formed but in the past: the daemon's 422 naming expires_at.
    Run past = portalctl(as_owner + " support grant --until 2020-01-01T00:00:00Z");
    INFO(past.out);
    CHECK(past.status == 1);
    CHECK(past.out.find("expires_at") != std::string::npos);
    // A manager gets the daemon's 403.
    CHECK(portalctl(as_manager + " support grant --for 2h").status == 6);
    CHECK(portalctl(as_manager + " support access").status == 6);
    CHECK(portalctl(as_manager + " support revoke").status == 6);
    Run untouched = portalctl(as_owner + " --json support access");
    INFO(untouched.out);
    REQUIRE(untouched.status == 0);
    CHECK(nlohmann::json::parse(untouched.out) ==
          nlohmann::json{{"enabled", false}, {"granted_by", nullptr}, {"granted_at", nullptr}, {"expires_at", nullptr}});
    CHECK(membership_in_customer() == "404");

    // The owner grants for two hours: expires_at is now + 2 h, and the staff member is a support member.
    Run granted = portalctl(as_owner + " support grant --for 2h");
    INFO(granted.out);
    REQUIRE(granted.status == 0);
    CHECK(granted.out.find("Support access granted until") != std::string::npos);
    Run shown = portalctl(as_owner + " --json support access");
    INFO(shown.out);
    REQUIRE(shown.status == 0);
    const auto access = nlohmann::json::parse(shown.out);
    CHECK(access.at("enabled") == true);
    CHECK(access.at("granted_by") == customer.owner.id);
    const std::string until = access.at("expires_at");
    const auto expires = portal::store::parse_rfc3339(until);
    REQUIRE(expires);
    const auto ahead = *expires - std::time(nullptr);
    CHECK(ahead > 2 * 3600 - 120);
    CHECK(ahead <= 2 * 3600);
    Run human = portalctl(as_owner + " support access");
    INFO(human.out);
    CHECK(human.status == 0);
    CHECK(human.out.find("Account: Customer (" + customer.account_id + ")") != std::string::npos);
    CHECK(human.out.find(until) != std::string::npos);
    CHECK(human.out.find(customer.owner.id) != std::string::npos);
    Run members = portalctl(as_owner + " --json users list --role support");
    INFO(members.out);
    REQUIRE(members.status == 0);
    const auto support_members = nlohmann::json::parse(members.out);
    REQUIRE(support_members.size() == 1);
    CHECK(support_members[0].at("id") == staff.id);
    CHECK(support_members[0].at("role") == "support");
    CHECK(support_members[0].at("status") == "active");
    Run users_table = portalctl(as_owner + " users list");
    CHECK(users_table.out.find("staff@provider.example") != std::string::npos);

    // Revoked: enabled false, the grant's expiry on record, the membership deactivated.
    Run revoked = portalctl(as_owner + " support revoke");
    INFO(revoked.out);
    REQUIRE(revoked.status == 0);
    CHECK(revoked.out.find("revoked") != std::string::npos);
    const auto after = nlohmann::json::parse(portalctl(as_owner + " --json support access").out);
    CHECK(after.at("enabled") == false);
    CHECK(after.at("expires_at") == until);
    CHECK(membership_in_customer() == "support/deactivated");

    // Root unmarks the staff member by email (from the staff list); a second time: 404.
    Run removed = portalctl(ctl + " support staff remove staff@provider.example");
    INFO(removed.out);
    CHECK(removed.status == 0);
    CHECK(nlohmann::json::parse(portalctl(ctl + " --json support staff list").out).empty());
    CHECK(portalctl(ctl + " support staff remove " + staff.id).status == 5);
    CHECK(portalctl(ctl + " support staff remove staff@provider.example").status == 5);
}

TEST_CASE("portalctl: notifications kept without an MTA show the reason - owners only",
          "[api][notifications][portalctl]") {
    DaemonOptions o;
    o.extra_toml = "[notifications]\nsendmail = \"/nonexistent/sendmail\"\n";
    Daemon d("ctl-notifications", o);
    const auto seed = seed_account(d);
    const auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const std::string ctl = std::string(PORTALCTL_BIN) + " --socket " + shell_quote(d.socket().string());
    const std::string as_manager = "setpriv --reuid " + std::to_string(mgr.uid) + " --regid " + std::to_string(mgr.uid) +
                                   " --clear-groups " + ctl;

    Run contact = portalctl(ctl + " contacts add --name Sec --email sec@example.com --roles security");
    INFO(contact.out);
    REQUIRE(contact.status == 0);
    Run owner = portalctl(ctl + " users add --email owner2@example.com --name 'Owner Two' --role owner");
    INFO(owner.out);
    REQUIRE(owner.status == 0);

    // The first owner's notice (nobody had the security role then) and the second's (no MTA).
    nlohmann::json notice, all;
    REQUIRE(eventually([&] {
        Run r = portalctl(ctl + " --json notifications");
        if (r.status != 0) return false;
        all = nlohmann::json::parse(r.out, nullptr, false);
        if (!all.is_array() || all.size() != 2) return false;
        for (const auto& n : all)
            if (n.at("status") != "kept") return false;
        notice = all.at(0);  // newest first
        return true;
    }));
    INFO(all.dump());
    CHECK(notice.at("event") == "owner_added");
    CHECK(notice.at("recipients") == nlohmann::json{"sec@example.com"});
    CHECK(notice.at("last_error").get<std::string>().find("/nonexistent/sendmail") != std::string::npos);
    CHECK(notice.at("sent_at").is_null());
    CHECK(notice.at("body").get<std::string>().find("Owner Two") != std::string::npos);
    CHECK(all.at(1).at("recipients").empty());
    CHECK(all.at(1).at("last_error").get<std::string>().find("security role") != std::string::npos);
    const std::string id = notice.at("id");

    Run table = portalctl(ctl + " notifications");
    INFO(table.out);
    CHECK(table.status == 0);
    CHECK(table.out.find("Account: Acme (" + seed.account_id + ")") != std::string::npos);
    for (const char* column : {"WHEN", "EVENT", "STATUS", "TO", "SUBJECT"}) CHECK(table.out.find(column) != std::string::npos);
    CHECK(table.out.find(id) != std::string::npos);
    CHECK(table.out.find("owner_added") != std::string::npos);
    CHECK(table.out.find("kept") != std::string::npos);
    CHECK(table.out.find("sec@example.com") != std::string::npos);
    // The reasons, whole.
    CHECK(table.out.find(id + " (kept): " + notice.at("last_error").get<std::string>()) != std::string::npos);
    CHECK(table.out.find("the account has no contact with the security role") != std::string::npos);
    CHECK(portalctl(ctl + " notifications list --per-page 1 --page 2").out.find(all.at(1).at("id").get<std::string>()) !=
          std::string::npos);

    // --status filters here: kept ones, none sent, a status that does not exist is a usage error.
    Run kept = portalctl(ctl + " --json notifications list --status kept --per-page 1");
    INFO(kept.out);
    REQUIRE(kept.status == 0);
    CHECK(nlohmann::json::parse(kept.out) == all);  // every page, not just the first
    Run sent = portalctl(ctl + " --json notifications --status sent");
    REQUIRE(sent.status == 0);
    CHECK(nlohmann::json::parse(sent.out) == nlohmann::json::array());
    Run none = portalctl(ctl + " notifications --status sent");
    CHECK(none.status == 0);
    CHECK(none.out.find("No sent notifications.") != std::string::npos);
    CHECK(portalctl(ctl + " notifications --status delivered").status == 2);

    Run shown = portalctl(ctl + " --json notifications show " + id);
    INFO(shown.out);
    REQUIRE(shown.status == 0);
    CHECK(nlohmann::json::parse(shown.out) == notice);
    Run human = portalctl(ctl + " notifications show " + id);
    INFO(human.out);
    CHECK(human.status == 0);
    CHECK(human.out.find("sec@example.com") != std::string::npos);
    CHECK(human.out.find("/nonexistent/sendmail") != std::string::npos);
    CHECK(human.out.find(notice.at("subject").get<std::string>()) != std::string::npos);
    CHECK(human.out.find("Owner Two") != std::string::npos);  // the body
    CHECK(portalctl(ctl + " notifications show ntf_nothere").status == 5);

    // Owners only: a manager gets the daemon's 403.
    Run denied = portalctl(as_manager + " notifications");
    INFO(denied.out);
    CHECK(denied.status == 6);
    CHECK(portalctl(as_manager + " notifications show " + id).status == 6);
}

namespace {
// A rule line of `portalctl why`: "  <mark> <name>  <detail>" (names padded to one column).
bool why_line(const std::string& out, const std::string& mark, const std::string& name, const std::string& detail) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        const std::string start = "  " + mark + " " + name + " ";
        if (line.rfind(start, 0) != 0) continue;
        const auto rest = line.find_first_not_of(' ', start.size());
        if (rest != std::string::npos && line.substr(rest) == detail) return true;
    }
    return false;
}
}  // namespace

TEST_CASE("portalctl: why shows every login rule, the NSS check and exits by the verdict", "[api][why][portalctl]") {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\n";
    Daemon d("ctl-why", o);
    const auto seed = seed_account(d);
    const auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const auto gone = add_member(d, seed.account_id, "gone@example.com", "manager");
    const std::string token = create_api_token(d, mgr.uid, "why", "read_only").secret;
    REQUIRE(d.put("/v1/account/users/" + gone.id, {{"status", "deactivated"}}, 0, account_header(seed.account_id)).status ==
            200);
    const std::string mgr_name = mgr.json.at("unix_name"), gone_name = gone.json.at("unix_name");
    const std::string owner_name = seed.owner.json.at("unix_name");
    // The login state follows the writes a moment later.
    REQUIRE(eventually([&] {
        const auto r = d.get("/v1/server/why?user=" + gone_name);
        return r.status == 200 && r.json.at("reason") == "deactivated";
    }));
    const std::string ctl = std::string(PORTALCTL_BIN) + " --socket " + shell_quote(d.socket().string());

    // Root on the socket: the rules, then the NSS check only this machine can make.
    Run root = portalctl(ctl + " why " + mgr_name + " --from 192.0.2.1");
    INFO(root.out);
    CHECK(root.out.find("Member " + mgr_name + " (" + mgr.id + ", uid " + std::to_string(mgr.uid) +
                        "): role manager, status active, 2FA off, 0 SSH key(s)") != std::string::npos);
    CHECK(why_line(root.out, "\u2713", "status", "status active"));
    CHECK(why_line(root.out, "\u2713", "role", "role manager; allowed: owner, manager"));
    CHECK(why_line(root.out, "\u2713", "ip_allowlist", "not applied to SSH on this server"));
    CHECK(root.out.find("From: 192.0.2.1") != std::string::npos);
    const bool resolves = root.out.find("\u2713 nss") != std::string::npos;
    if (resolves) {
        CHECK(root.status == 0);
        CHECK(root.out.find("Verdict: allowed") != std::string::npos);
    } else {  // the test's members are not in this machine's NSS
        CHECK(root.status == 1);
        CHECK(root.out.find("\u2717 nss") != std::string::npos);
        CHECK(root.out.find("Verdict: refused: the rules allow the member") != std::string::npos);
    }

    Run deactivated = portalctl(ctl + " why " + gone_name);
    INFO(deactivated.out);
    CHECK(deactivated.status == 1);
    CHECK(why_line(deactivated.out, "\u2717", "status", "status deactivated"));
    CHECK(deactivated.out.find("Verdict: refused (deactivated): Your portal access to this server has been deactivated.") !=
          std::string::npos);

    Run json = portalctl(ctl + " --json why " + gone_name);
    CHECK(json.status == 1);
    const auto body = nlohmann::json::parse(json.out.substr(0, json.out.find('\n')), nullptr, false);
    REQUIRE(body.is_object());
    CHECK(body.at("reason") == "deactivated");

    Run stranger = portalctl(ctl + " why nosuchuser");
    INFO(stranger.out);
    CHECK(stranger.status == 5);
    CHECK(stranger.out.find("not a portal user here") != std::string::npos);

    // The member themself, over HTTPS with their token: no NSS check there (another machine).
    const HttpsTarget https = https_listener(d);
    const std::string remote = "PORTAL_TOKEN=" + token + " " + std::string(PORTALCTL_BIN) + " --url https://" +
                               https.address + " --pin " + shell_quote(https.pin);
    Run self = portalctl(remote + " why " + mgr_name);
    INFO(self.out);
    CHECK(self.status == 0);
    CHECK(self.out.find("Verdict: allowed") != std::string::npos);
    CHECK(self.out.find("nss") == std::string::npos);
    Run other = portalctl(remote + " why " + owner_name);
    INFO(other.out);
    CHECK(other.status == 6);

    // No daemon at all: logins run on the fallback files.
    Run down = portalctl(std::string(PORTALCTL_BIN) + " --socket " + shell_quote((d.dir() / "nothing.sock").string()) +
                         " why " + mgr_name);
    INFO(down.out);
    CHECK(down.status == 3);
    CHECK(down.out.find("logins run on the fallback files") != std::string::npos);
}

TEST_CASE("portalctl: invitations accept and decline answer the invitation", "[api][invitations][portalctl]") {
    Daemon d("ctl-invitations");
    const auto a = seed_account(d, "Acme", "acme");
    const auto b = seed_account(d, "Beta", "beta");
    const auto c = seed_account(d, "Gamma", "gamma");
    // Owners of B and C invite A's owner (an existing person joins only by accepting).
    for (const auto* s : {&b, &c}) {
        auto r = d.post("/v1/account/users", {{"email", a.owner.email}, {"name", "Ann"}, {"role", "manager"}}, s->owner.uid,
                        account_header(s->account_id));
        REQUIRE(r.status == 201);
        REQUIRE(r.json.at("status") == "invited");
    }
    const std::string as_ann = "setpriv --reuid " + std::to_string(a.owner.uid) + " --regid " +
                               std::to_string(a.owner.uid) + " --clear-groups " + std::string(PORTALCTL_BIN) +
                               " --socket " + shell_quote(d.socket().string());
    Run listed = portalctl(as_ann + " invitations");
    INFO(listed.out);
    CHECK(listed.status == 0);
    CHECK(listed.out.find(b.account_id) != std::string::npos);

    Run accepted = portalctl(as_ann + " invitations accept " + b.account_id);
    INFO(accepted.out);
    CHECK(accepted.status == 0);
    auto in_b = d.get("/v1/account/users/" + a.owner.id, 0, account_header(b.account_id));
    CHECK(in_b.json.value("status", "") == "active");

    Run declined = portalctl(as_ann + " invitations decline " + c.account_id);
    INFO(declined.out);
    CHECK(declined.status == 0);
    CHECK(d.get("/v1/account/users/" + a.owner.id, 0, account_header(c.account_id)).status == 404);

    // No such invitation: the daemon's 404, exit 5 (this exited 0 without asking, once).
    Run nothing = portalctl(as_ann + " invitations accept " + c.account_id);
    INFO(nothing.out);
    CHECK(nothing.status == 5);
}
