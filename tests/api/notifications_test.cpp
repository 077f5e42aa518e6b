// Security notifications (issue 12): an owner added or removed, a 2FA reset, Enforce 2FA or the
// IP allowlist switched, support access granted: each queues a notice for the account's contacts
// with the security role, in the write that made the change, and the daemon hands it to the MTA
// (`sendmail -t -i`; here a fake that keeps what it got). Without an MTA or a security contact
// the notice is kept and shown; a failing MTA is retried.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>

#include "tests/api/support/agents.h"
#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;
namespace fs = std::filesystem;

namespace {

// A directory with a fake sendmail that keeps each message (mail.N) and its arguments (args.N);
// while <dir>/fail exists it says why on stderr and exits 75 (EX_TEMPFAIL) instead.
struct FakeMta {
    fs::path dir;
    FakeMta() {
        std::string templ = (fs::temp_directory_path() / "fake-mta-XXXXXX").string();
        REQUIRE(::mkdtemp(templ.data()) != nullptr);
        dir = templ;
        std::ofstream(program()) << "#!/bin/sh\n"
                                 << "d='" << dir.string() << "'\n"
                                 << "if [ -e \"$d/fail\" ]; then echo 'mail queue full' >&2; exit 75; fi\n"
                                 << "n=$(date +%s%N)\n"
                                 << "echo \"$*\" > \"$d/args.$n\"\n"
                                 << "cat > \"$d/mail.$n.part\" && mv \"$d/mail.$n.part\" \"$d/mail.$n\"\n";
        fs::permissions(program(), fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
        ::chmod(dir.c_str(), 0755);
    }
    ~FakeMta() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    fs::path program() const { return dir / "sendmail"; }
    std::vector<std::string> mails() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(dir)) {
            const auto name = e.path().filename().string();
            if (name.rfind("mail.", 0) != 0 || name.find(".part") != std::string::npos) continue;
            std::ifstream f(e.path());
            std::stringstream ss;
            ss << f.rdbuf();
            out.push_back(ss.str());
        }
        return out;
    }
    std::string toml() const { return "[notifications]\nsendmail = \"" + program().string() + "\"\nfrom = \"keyd@portal.example\"\n"; }
};

nlohmann::json notifications_of(const Daemon& d, const std::string& account_id) {
    auto r = d.get("/v1/notifications?per_page=100", 0, account_header(account_id));
    REQUIRE(r.status == 200);
    return r.json;
}

void add_security_contacts(const Daemon& d, const std::string& account_id) {
    const auto hdr = account_header(account_id);
    REQUIRE(d.post("/v1/contacts", {{"name", "Sec"}, {"email", "sec@example.com"}, {"notification_roles", {"security"}}}, 0,
                   hdr)
                .status == 201);
    REQUIRE(d.post("/v1/contacts", {{"name", "Bill"}, {"email", "bill@example.com"}, {"notification_roles", {"billing"}}},
                   0, hdr)
                .status == 201);
}

}  // namespace

TEST_CASE("notifications: every security change mails the account's security contacts", "[api][notifications]") {
    FakeMta mta;
    DaemonOptions opts;
    opts.extra_toml = mta.toml();
    Daemon d("notifications", opts);
    auto seed = seed_account(d);
    const auto hdr = account_header(seed.account_id);
    // The first owner is a notice too: kept, as nobody takes security notices yet.
    REQUIRE(eventually([&] {
        auto l = notifications_of(d, seed.account_id);
        return l.size() == 1 && l[0].at("status") == "kept";
    }));
    const std::string first_notice = notifications_of(d, seed.account_id).at(0).at("id");
    add_security_contacts(d, seed.account_id);
    auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");

    // Not security changes: no notice.
    REQUIRE(d.put("/v1/account", {{"name", "Acme Renamed"}}, seed.owner.uid, hdr).status == 200);
    auto other = add_member(d, seed.account_id, "second@example.com", "manager");
    // A refused change queues nothing either (the account's last owner cannot leave).
    REQUIRE(d.del("/v1/account/users/" + seed.owner.id, seed.owner.uid, hdr).status == 422);

    auto owner2 = add_member(d, seed.account_id, "owner2@example.com", "owner");            // owner_added
    REQUIRE(d.put("/v1/account/users/" + owner2.id, {{"status", "deactivated"}}, 0, hdr).status == 200);  // owner_removed
    REQUIRE(d.post("/v1/account/users/" + mgr.id + "/tfa/reset", nlohmann::json::object(), seed.owner.uid, hdr).status ==
            204);  // tfa_reset
    REQUIRE(d.put("/v1/account", {{"enforce_2fa", true}, {"confirm", seed.account_id}}, 0, hdr).status == 200);
    REQUIRE(d.put("/v1/support/access", {{"enabled", true}, {"expires_at", "2099-01-01T00:00:00Z"}}, 0, hdr).status == 422);
    std::time_t t = std::time(nullptr) + 3600;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    REQUIRE(d.put("/v1/support/access", {{"enabled", true}, {"expires_at", buf}}, 0, hdr).status == 200);
    REQUIRE(d.post("/v1/account/ip_allowlist/entries", {{"cidr", "192.0.2.0/24"}}, 0, hdr).status == 201);
    REQUIRE(d.put("/v1/account/ip_allowlist", {{"active", true}}, 0, hdr).status == 200);

    const std::set<std::string> expected{"owner_added", "owner_removed", "tfa_reset", "enforce_2fa_changed",
                                         "support_access_granted", "ip_allowlist_changed"};
    REQUIRE(eventually([&] { return mta.mails().size() >= expected.size(); }, 30));
    auto list = notifications_of(d, seed.account_id);
    REQUIRE_FALSE(list.empty());
    CHECK(list.back().at("id") == first_notice);
    list.erase(list.size() - 1);
    std::set<std::string> events;
    for (const auto& n : list) {
        INFO(n.dump());
        events.insert(n.at("event").get<std::string>());
        CHECK(n.at("recipients") == nlohmann::json{"sec@example.com"});
    }
    CHECK(events == expected);
    CHECK(list.size() == expected.size());  // the renaming, the manager, the refused removal: nothing
    CHECK(eventually([&] {
        for (const auto& n : notifications_of(d, seed.account_id))
            if (n.at("status") != "sent" && n.at("id") != first_notice) return false;
        return true;
    }));
    const auto mails = mta.mails();
    CHECK(mails.size() == expected.size());
    for (const auto& m : mails) {
        INFO(m);
        CHECK(m.find("To: sec@example.com\n") != std::string::npos);
        CHECK(m.find("bill@example.com") == std::string::npos);
        CHECK(m.find("From: portal-keyd <keyd@portal.example>\n") != std::string::npos);
        CHECK(m.find("Subject: [Acme Renamed] Security: ") != std::string::npos);
        CHECK(m.find("Auto-Submitted: auto-generated\n") != std::string::npos);
        CHECK(m.find("Account: Acme Renamed (" + seed.account_id + ")") != std::string::npos);
    }
    for (const auto& e : fs::directory_iterator(mta.dir)) {
        if (e.path().filename().string().rfind("args.", 0) != 0) continue;
        std::ifstream f(e.path());
        std::string args;
        std::getline(f, args);
        CHECK(args == "-t -i");
    }
    // Owners only (the guard's table checks the rest; Enforce 2FA now holds this owner back).
    CHECK(d.get("/v1/notifications", other.uid, hdr).status == 403);
}

TEST_CASE("notifications: without an MTA or a security contact they are kept - a failing MTA is tried again",
          "[api][notifications]") {
    SECTION("no MTA") {
        DaemonOptions opts;
        opts.extra_toml = "[notifications]\nsendmail = \"/nonexistent/sendmail\"\n";
        Daemon d("notifications-no-mta", opts);
        auto seed = seed_account(d);
        add_security_contacts(d, seed.account_id);
        add_member(d, seed.account_id, "owner2@example.com", "owner");
        CHECK(eventually([&] {
            auto l = notifications_of(d, seed.account_id);
            return l.size() == 2 && l[0].at("status") == "kept";
        }));
        auto n = notifications_of(d, seed.account_id).at(0);  // the newest
        INFO(n.dump());
        CHECK(n.at("last_error").get<std::string>().find("/nonexistent/sendmail") != std::string::npos);
        CHECK(n.at("recipients") == nlohmann::json{"sec@example.com"});
    }
    SECTION("no security contact") {
        FakeMta mta;
        DaemonOptions opts;
        opts.extra_toml = mta.toml();
        Daemon d("notifications-no-contact", opts);
        auto seed = seed_account(d);
        add_member(d, seed.account_id, "owner2@example.com", "owner");
        CHECK(eventually([&] {
            auto l = notifications_of(d, seed.account_id);
            return l.size() == 2 && l[0].at("status") == "kept" && l[1].at("status") == "kept";
        }));
        for (const auto& n : notifications_of(d, seed.account_id)) {
            CHECK(n.at("last_error").get<std::string>().find("security role") != std::string::npos);
            CHECK(n.at("recipients").empty());
        }
        CHECK(mta.mails().empty());
    }
    SECTION("the MTA fails") {
        FakeMta mta;
        std::ofstream(mta.dir / "fail") << "";
        DaemonOptions opts;
        opts.extra_toml = mta.toml();
        Daemon d("notifications-mta-fails", opts);
        auto seed = seed_account(d);
        add_security_contacts(d, seed.account_id);
        add_member(d, seed.account_id, "owner2@example.com", "owner");
        CHECK(eventually([&] {
            auto l = notifications_of(d, seed.account_id);
            return l.size() == 2 && l[0].at("attempts") == 1;
        }));
        auto n = notifications_of(d, seed.account_id).at(0);
        INFO(n.dump());
        CHECK(n.at("status") == "queued");  // tried again in a minute
        CHECK(n.at("last_error").get<std::string>().find("exit status 75: mail queue full") != std::string::npos);
        CHECK(mta.mails().empty());
    }
}
