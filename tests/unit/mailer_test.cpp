// The security notices' mail (keyd/notify/): the message sendmail -t reads, and the sendmail run
// itself (bounded by a deadline, its refusal reported with what it said).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "keyd/notify/mailer.h"
#include "keyd/notify/sendmail.h"
#include "keyd/store/store.h"
#include "keyd/store/timestamp.h"
#include "tests/unit/support/temp_dir.h"

namespace mailer_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

portal::Notification a_notice() {
    portal::Notification n;
    n.id = "ntf_abc";
    n.subject = "[Acme] Security: an owner was added";
    n.body = "What happened: ann@example.com is now an owner.\n";
    n.recipients = {"sec@example.com", "ops@example.com"};
    return n;
}

fs::path script(const std::string& name, const std::string& text) {
    const fs::path p = fs::temp_directory_path() / ("portal-mailer-test-" + name);
    std::ofstream(p) << "#!/bin/sh\n" << text;
    ::chmod(p.c_str(), 0755);
    return p;
}

}  // namespace

TEST_CASE("mailer: the message has its recipients in To - a header stays one line whatever it holds",
          "[unit][notifications]") {
    auto n = a_notice();
    const std::string m = portal::notify::mail_text(n, "keyd@portal.example", 1796287507);
    CHECK(m.rfind("From: portal-keyd <keyd@portal.example>\nTo: sec@example.com, ops@example.com\n"
                  "Subject: [Acme] Security: an owner was added\nDate: Thu, 03 Dec 2026 08:45:07 +0000\n"
                  "Message-ID: <ntf_abc@portal.example>\n",
                  0) == 0);
    CHECK(m.find("\n\nWhat happened: ann@example.com is now an owner.\n") != std::string::npos);

    n.subject = "[Acme]\r\nBcc: victim@example.com";
    n.recipients = {"sec@example.com\nBcc: x@example.com"};
    const std::string injected = portal::notify::mail_text(n, "keyd@portal.example", 0);
    CHECK(injected.find("\nBcc:") == std::string::npos);

    n.subject = "[Müller] Security";
    CHECK(portal::notify::mail_text(n, "k@h", 0).find("Subject: =?UTF-8?B?W03DvGxsZXJdIFNlY3VyaXR5?=\n") !=
          std::string::npos);
}

TEST_CASE("mailer: sendmail gets -t -i and the message - a refusal or a hang is reported", "[unit][notifications]") {
    const fs::path out = fs::temp_directory_path() / "portal-mailer-test-out";
    fs::remove(out);
    auto ok = script("ok", "echo \"$*\" > '" + out.string() + ".args'\ncat > '" + out.string() + "'\n");
    auto sent = portal::notify::run_sendmail(ok, "To: a@b\n\nhello\n", 10s);
    CHECK(sent.ok);
    std::ifstream f(out);
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    CHECK(all == "To: a@b\n\nhello\n");
    std::ifstream a(out.string() + ".args");
    std::string args;
    std::getline(a, args);
    CHECK(args == "-t -i");

    auto refuses = script("refuses", "cat >/dev/null\necho 'no such domain' >&2\nexit 67\n");
    auto r = portal::notify::run_sendmail(refuses, "To: a@b\n\nx\n", 10s);
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("exit status 67: no such domain") != std::string::npos);

    auto hangs = script("hangs", "sleep 30\n");
    auto h = portal::notify::run_sendmail(hangs, "To: a@b\n\nx\n", 300ms);
    CHECK_FALSE(h.ok);
    CHECK(h.error.find("did not finish") != std::string::npos);

    auto missing = portal::notify::run_sendmail("/nonexistent/sendmail", "x", 1s);
    CHECK_FALSE(missing.ok);
    for (const auto& p : {ok, refuses, hangs, out, fs::path(out.string() + ".args")}) fs::remove(p);
}

TEST_CASE("mailer: settled notices are forgotten after their keeping time - queued ones never",
          "[unit][notifications]") {
    portal::test::TempDir dir("mailer-prune");
    auto store = portal::store::Store::open(dir.path() / "state" / "store.db");
    const auto account = store->accounts().create("Acme");
    const auto at = [](std::chrono::hours ago) {
        return portal::store::format_rfc3339(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() - ago));
    };
    const auto old = portal::notify::kNotificationsKept + std::chrono::hours(1);
    auto put = [&](const std::string& id, const std::string& status, std::chrono::hours ago) {
        portal::Notification n = a_notice();
        n.id = id;
        n.account_id = account.id;
        n.event = "owner_added";
        n.status = status;
        n.created_at = at(ago);
        n.next_attempt_at = status == "queued" ? at(std::chrono::hours(-1)) : n.created_at;  // queued: due in an hour
        store->notifications().queue(n);
    };
    put("ntf_old_sent", "sent", old);
    put("ntf_old_failed", "failed", old);
    put("ntf_old_kept", "kept", old);
    put("ntf_old_queued", "queued", old);
    put("ntf_recent", "sent", portal::notify::kNotificationsKept - std::chrono::hours(1));
    {
        portal::notify::MailerSettings off;
        off.sendmail.clear();
        portal::notify::Mailer mailer(*store, off);  // prunes when it starts
        for (int i = 0; i < 200 && store->notifications().count(account.id) != 2; ++i) std::this_thread::sleep_for(10ms);
    }
    std::vector<std::string> left;
    for (const auto& n : store->notifications().of_account(account.id, {})) left.push_back(n.id);
    std::sort(left.begin(), left.end());
    CHECK(left == std::vector<std::string>{"ntf_old_queued", "ntf_recent"});
}

}  // namespace mailer_test
