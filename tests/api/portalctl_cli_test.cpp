// portalctl, tested (issue 12): the real portalctl binary against the real daemon for every
// command - its exit codes 0-7, its --json output parsed, its tables against golden files, and
// what it says for the common mistakes (no daemon, not a member, the wrong account).
//
// The golden files live in tests/api/golden/portalctl/. After a deliberate change to a table,
// rewrite them with
//   PORTAL_UPDATE_GOLDEN=1 build/test/tests/api_tests "[cli]"
// and review the diff like any other change.
#include <catch2/catch.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/api/support/agents.h"
#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"

using namespace portal::test;

namespace {

namespace cli_fs = std::filesystem;

// Two fixed public keys (their private halves were thrown away): fixed fingerprints for the
// golden files.
constexpr const char* kCliKeyAnn =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMagWQLddjQjEIk4FZweeqRiMA8AtZH4wjczaeX467/+ ann@laptop";
constexpr const char* kCliKeyAnnSha256 = "SHA256:3k/JLTRv0gNkUFZTVXJ4zc/n5PjMBMc2qMwGimDNTFY";
constexpr const char* kCliKeyAnnMd5 = "77:0b:69:c5:ac:9d:5f:8f:d9:f3:60:af:1e:d8:83:1d";
constexpr const char* kCliKeyBob =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILTgeShmeZoUsOS8/D2yFqNbMWRoYlgWfmRj9BKEfnLy bob@desktop";

struct CliResult {
    int status = -1;
    std::string out;  // stdout
    std::string err;  // stderr
    std::string all() const { return out + err; }
};

std::ostream& operator<<(std::ostream& os, const CliResult& r) {
    return os << "exit " << r.status << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

std::vector<std::string> cli_lines(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// Runs portalctl as `uid` (0: root) on `socket`, with an empty config directory of its own
// (no `accounts use` choice, no session of whoever runs the tests), stdin from `input`.
class CliCtl {
public:
    explicit CliCtl(const Daemon& d) : dir_(d.dir()), socket_(d.socket().string()) {
        cli_fs::create_directories(dir_ / "cli-config");
        cli_fs::permissions(dir_ / "cli-config", cli_fs::perms(0755));
    }
    const std::string& socket() const { return socket_; }
    const cli_fs::path& dir() const { return dir_; }

    CliResult run(const std::string& args, uid_t uid = 0, const std::string& input = "",
                  const std::string& env = "") const {
        return run_on(socket_, args, uid, input, env);
    }
    CliResult run_on(const std::string& socket, const std::string& args, uid_t uid = 0, const std::string& input = "",
                     const std::string& env = "") const {
        const int n = ++calls_;
        const cli_fs::path err = dir_ / ("cli-stderr-" + std::to_string(n));
        const cli_fs::path in = dir_ / ("cli-stdin-" + std::to_string(n));
        std::ofstream(in) << input;
        std::string cmd = "env -u PORTAL_URL -u PORTAL_PIN -u PORTAL_TOKEN -u PORTAL_KEYD_SOCKET -u PORTAL_ENROLMENT_TOKEN "
                          "XDG_CONFIG_HOME=" + shell_quote((dir_ / "cli-config").string()) + " " + env + " ";
        if (uid != 0) {
            const std::string u = std::to_string(uid);
            cmd += "setpriv --reuid " + u + " --regid " + u + " --clear-groups ";
        }
        cmd += std::string(PORTALCTL_BIN) + " --socket " + shell_quote(socket) + " " + args + " <" +
               shell_quote(in.string()) + " 2>" + shell_quote(err.string());
        CliResult r;
        r.out = run_command(cmd, &r.status);
        r.err = read_file(err);
        cli_fs::remove(err);
        cli_fs::remove(in);
        return r;
    }

private:
    cli_fs::path dir_;
    std::string socket_;
    mutable int calls_ = 0;
};

// Not portal-keyd: a Unix socket that answers every request with the same bytes (a daemon
// that fails, or something else listening where the daemon should be).
class CliFakeDaemon {
public:
    CliFakeDaemon(cli_fs::path path, std::string reply) : path_(std::move(path)), reply_(std::move(reply)) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        REQUIRE(path_.string().size() < sizeof a.sun_path);
        std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
        REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd_, 16) == 0);
        REQUIRE(::chmod(path_.c_str(), 0666) == 0);  // members connect too
        thread_ = std::thread([this] { serve(); });
    }
    ~CliFakeDaemon() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
        std::error_code ec;
        cli_fs::remove(path_, ec);
    }
    CliFakeDaemon(const CliFakeDaemon&) = delete;
    CliFakeDaemon& operator=(const CliFakeDaemon&) = delete;
    std::string path() const { return path_.string(); }
    int served() const { return served_; }

private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            timeval tv{2, 0};
            ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string req;
            char buf[4096];
            while (req.find("\r\n\r\n") == std::string::npos) {
                const ssize_t got = ::recv(c, buf, sizeof buf, 0);
                if (got <= 0) break;
                req.append(buf, static_cast<std::size_t>(got));
            }
            std::size_t off = 0;
            while (off < reply_.size()) {
                const ssize_t sent = ::send(c, reply_.data() + off, reply_.size() - off, MSG_NOSIGNAL);
                if (sent <= 0) break;
                off += static_cast<std::size_t>(sent);
            }
            ::shutdown(c, SHUT_WR);
            while (::recv(c, buf, sizeof buf, 0) > 0) {
            }
            ::close(c);
            ++served_;
        }
    }
    cli_fs::path path_;
    std::string reply_;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<int> served_{0};
    std::thread thread_;
};

std::string cli_http_reply(const std::string& status_line, const std::string& body) {
    return "HTTP/1.1 " + status_line + "\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("portalctl cli: every command's exit codes, 0 to 7, over the real daemon", "[api][portalctl][cli]") {
    Daemon d("cli-exit");
    const auto seed = seed_account(d, "Acme", "acme");
    const auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const CliCtl ctl(d);
    const uid_t owner = seed.owner.uid, manager = mgr.uid, root = 0;

    // Not the daemon: nothing listening; a daemon failing with 500; an answer that is not JSON;
    // an answer that is not HTTP (this exited 3, "cannot reach", once).
    const std::string nothing = (d.dir() / "nothing.sock").string();
    const CliFakeDaemon failing(d.dir() / "fail.sock",
                                cli_http_reply("500 Internal Server Error", R"({"code":"INTERNAL","message":"boom"})"));
    const CliFakeDaemon not_json(d.dir() / "notjson.sock", cli_http_reply("200 OK", "<html>hello</html>"));
    const CliFakeDaemon not_http(d.dir() / "nothttp.sock", "SSH-2.0-OpenSSH_9.2\r\n");

    const std::string key = std::string("--key ") + shell_quote(kCliKeyAnn);
    struct Row {
        std::string args;
        uid_t uid;
        int exit;
        std::string says;  // in stdout or stderr
        std::string socket = "";  // "" the daemon's
        std::string input = "";
        std::string env = "";
    };
    const std::vector<Row> table = {
        // account
        {"account show", owner, 0, "Acme"},
        {"account show", manager, 0, seed.account_id},
        {"account set", owner, 2, "--name"},
        {"account set --name ''", owner, 1, "name"},
        {"account set --name Renamed", manager, 6, "HTTP 403"},
        {"account set --name Acme", owner, 0, "Acme"},
        {"account enforce-2fa on", owner, 2, "--confirm " + seed.account_id},
        {"account enforce-2fa maybe", owner, 2, "maybe"},
        {"account enforce-2fa on --confirm acc_wrong", owner, 1, "confirm"},
        {"account enforce-2fa on --confirm " + seed.account_id, manager, 6, "HTTP 403"},
        {"account enforce-2fa off --confirm " + seed.account_id, owner, 0, "Enforce 2FA is now off"},
        {"account frobnicate", owner, 2, "unknown command 'frobnicate'"},
        {"account show", owner, 3, "cannot connect to " + nothing, nothing},
        {"account show", owner, 4, "boom", failing.path()},
        {"account show", owner, 4, "not valid JSON", not_json.path()},
        {"account show", owner, 4, "is not portal-keyd's HTTP", not_http.path()},
        {"users list", root, 4, "is not portal-keyd's HTTP", not_http.path()},
        {"account show", kUnknownUid, 6, "HTTP 403"},
        {"--account acc_doesnotexist account show", owner, 5, "account not found"},
        // accounts
        {"accounts list", owner, 0, "Acme"},
        {"accounts list --per-page 0", owner, 2, "--per-page"},
        {"accounts list", owner, 4, "boom", failing.path()},
        {"accounts list", owner, 4, "not valid JSON", not_json.path()},
        {"accounts create Side", root, 0, "Created account acc_"},
        {"accounts create ''", owner, 1, "name"},
        {"accounts create", owner, 2, "NAME"},
        {"accounts create Side", kUnknownUid, 6, "HTTP 403"},
        {"accounts use acc_doesnotexist", owner, 5, "acc_doesnotexist"},
        {"accounts use", owner, 2, "--none"},
        // users
        {"users list", owner, 0, "owner-acme@example.com"},
        {"users list --role admin", owner, 2, "--role"},
        {"users list", kUnknownUid, 6, "HTTP 403"},
        {"users show mgr@example.com", owner, 0, mgr.id},
        {"users show usr_doesnotexist", owner, 5, "HTTP 404"},
        {"users show nobody@example.com", owner, 5, "nobody@example.com"},
        {"users show", owner, 2, "ID"},
        {"users add --email new@example.com --name New --role manager", owner, 0, "Added user usr_"},
        {"users add --email new@example.com --name New --role manager", owner, 7, "email"},
        {"users add --email not-an-email --name X --role manager", owner, 1, "email"},
        {"users add --email x@example.com --name X --role admin", owner, 2, "--role"},
        {"users add --email x@example.com --name X", owner, 2, "--role"},
        {"users add --email x@example.com --name X --role manager", manager, 6, "HTTP 403"},
        {"users set new@example.com", owner, 2, "nothing to change"},
        {"users set new@example.com --name 'New Name'", owner, 0, "New Name"},
        {"users set new@example.com --name 'Not Mine'", manager, 6, "HTTP 403"},
        {"users deactivate new@example.com", owner, 0, "deactivated"},
        {"users activate new@example.com", owner, 0, "activated"},
        {"users activate usr_doesnotexist", owner, 5, "HTTP 404"},
        {"users reset-2fa usr_doesnotexist", owner, 5, "HTTP 404"},
        {"users remove new@example.com", owner, 0, "Removed user usr_"},
        {"users remove new@example.com", owner, 5, "new@example.com"},
        {"users remove " + seed.owner.id, manager, 6, "HTTP 403"},
        // profile
        {"profile show", owner, 0, "owner-acme@example.com"},
        {"profile set --name ''", owner, 1, "name"},
        {"profile set --name 'Ann Owner'", owner, 0, "Ann Owner"},
        {"profile set", owner, 2, "--name"},
        {"profile show", kUnknownUid, 6, "HTTP 403"},
        // tfa
        {"tfa enable --no-qr", manager, 0, "Secret"},
        {"tfa confirm", manager, 2, "nothing was entered"},
        {"tfa confirm", manager, 1, "code", "", "000000\n"},
        {"tfa disable 123456", owner, 1, "HTTP"},
        {"tfa enable --qr", manager, 2, "--qr"},
        // keys
        {"keys add --name laptop " + key, owner, 0, std::string("Added key ") + kCliKeyAnnSha256},
        {"keys add --name laptop " + key, owner, 7, "HTTP 409"},
        {"keys add --name other " + key, owner, 7, "HTTP 409"},
        {"keys add --name other --key 'ssh-ed25519 AAAAnotakey'", owner, 1, "public_key"},
        {"keys add --name other", owner, 2, "no key given"},
        {"keys add --name other -", owner, 0, "Added key SHA256:", "", std::string(kCliKeyBob) + "\n"},
        {"keys list", owner, 0, "laptop"},
        {"keys list --user nobody@example.com", owner, 5, "nobody@example.com"},
        {std::string("keys show ") + kCliKeyAnnMd5, owner, 0, kCliKeyAnnSha256},
        {std::string("keys show ") + kCliKeyAnnSha256, owner, 0, "laptop"},
        {"keys show 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff", owner, 5, "HTTP 404"},
        {"keys show SHA256:nope", owner, 5, "SHA256:nope"},
        {std::string("keys set ") + kCliKeyAnnMd5, owner, 2, "nothing to change"},
        {std::string("keys set ") + kCliKeyAnnMd5 + " --label bad", owner, 2, "--label"},
        {std::string("keys set ") + kCliKeyAnnMd5 + " --name other", owner, 7, "HTTP 409"},
        {std::string("keys set ") + kCliKeyAnnMd5 + " --name work --label env=prod", owner, 0, "env=prod"},
        {std::string("keys remove ") + kCliKeyAnnMd5, owner, 0, "Removed key"},
        {std::string("keys remove ") + kCliKeyAnnMd5, owner, 5, "HTTP 404"},
        // status
        {"status", owner, 0, "Acme (" + seed.account_id + ")"},
        {"status", manager, 0, "Users"},
        {"status --bogus", owner, 2, "--bogus"},
        {"status", owner, 3, "is portal-keyd running?", nothing},
        {"status", owner, 4, "boom", failing.path()},
        {"status", kUnknownUid, 6, "HTTP 403"},
        // logins
        {"logins", owner, 0, "DECISION"},
        {"logins --page 0", owner, 2, "--page"},
        {"logins --all --page 2", owner, 2, "--page"},
        {"logins", kUnknownUid, 6, "HTTP 403"},
        {"logins", owner, 4, "not valid JSON", not_json.path()},
        // homes
        {"homes", root, 0, ""},
        {"homes --orphaned", root, 0, ""},
        {"homes --orphaned yes", root, 2, "yes"},
        {"homes", owner, 4, "boom", failing.path()},
        // join, leave, login, logout: their refusals (no portal to join here)
        {"join", root, 2, "URL"},
        {"join https://portal.example:8443", root, 2, "enrolment token"},
        {"join https://portal.example:8443 --url https://portal.example:8443", root, 2, "no --url", "", "",
         "PORTAL_ENROLMENT_TOKEN=pk_enrol_x"},
        {"join https://portal.example:8443", owner, 6, "HTTP 403", "", "", "PORTAL_ENROLMENT_TOKEN=pk_enrol_x"},
        {"leave", root, 2, "--yes"},
        {"leave --yes", root, 5, "this server follows no portal (it is an authority): nothing to leave"},
        {"login", owner, 2, "no email given"},
        {"login --email owner-acme@example.com", owner, 2, "Password: nothing was entered", "", "\n"},
        {"login --email owner-acme@example.com", owner, 1, "HTTP", "", "wrong password\n"},
        {"logout", owner, 0, "Not signed in."},
        {"logout --everywhere", owner, 2, "--everywhere"},
        // the command line itself
        {"", owner, 2, "A subcommand is required"},
        {"frobnicate", owner, 2, "unknown command 'frobnicate'"},
        {"users", owner, 2, "A subcommand is required"},
        {"--timeout 0 status", owner, 2, "--timeout"},
    };

    std::set<int> seen;
    for (const auto& row : table) {
        const CliResult r = ctl.run_on(row.socket.empty() ? ctl.socket() : row.socket, row.args, row.uid, row.input,
                                       row.env);
        INFO("portalctl " << row.args << " (uid " << row.uid << ")\n" << r);
        CHECK(r.status == row.exit);
        CHECK(r.all().find(row.says) != std::string::npos);
        if (row.exit != 0) {
            // An error is reported on stderr, never as a stack of messages.
            CHECK_FALSE(r.err.empty());
            CHECK(r.err.find("terminate called") == std::string::npos);
        }
        seen.insert(r.status);
    }
    CHECK(seen == std::set<int>{0, 1, 2, 3, 4, 5, 6, 7});
    CHECK(failing.served() > 0);
}

TEST_CASE("portalctl cli: --json output of every read command parses and carries the fixture", "[api][portalctl][cli]") {
    Daemon d("cli-json");
    const auto seed = seed_account(d, "Acme", "acme");
    const auto mgr = add_member(d, seed.account_id, "mgr@example.com", "manager");
    const CliCtl ctl(d);
    const uid_t owner = seed.owner.uid;
    REQUIRE(d.post("/v1/ssh_keys", {{"name", "laptop"}, {"public_key", kCliKeyAnn}}, owner).status == 201);
    REQUIRE(ctl.run("contacts add --name 'Sec team' --email sec@example.com --roles security").status == 0);
    REQUIRE(ctl.run("tickets open --subject 'Disk full' --body 'Since 10:00.'", owner).status == 0);

    // The whole of stdout is one JSON value (hints and errors go to stderr).
    const auto json_of = [&](const std::string& args, uid_t uid) {
        const CliResult r = ctl.run("--json " + args, uid);
        INFO("portalctl --json " << args << "\n" << r);
        REQUIRE(r.status == 0);
        const auto j = nlohmann::json::parse(r.out, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        return j;
    };
    const auto emails_of = [](const nlohmann::json& users) {
        std::set<std::string> out;
        for (const auto& u : users) out.insert(u.at("email").get<std::string>());
        return out;
    };
    const std::set<std::string> members{"owner-acme@example.com", "mgr@example.com"};

    const auto account = json_of("account show", owner);
    CHECK(account.at("id") == seed.account_id);
    CHECK(account.at("name") == "Acme");
    CHECK(account.at("enforce_2fa") == false);
    CHECK(account.at("created_at").is_string());

    const auto accounts = json_of("accounts list", owner);
    REQUIRE(accounts.is_array());
    REQUIRE(accounts.size() == 1);
    CHECK(accounts[0].at("id") == seed.account_id);
    CHECK(accounts[0].at("name") == "Acme");
    CHECK(accounts[0].at("role") == "owner");

    const auto users = json_of("users list", owner);
    REQUIRE(users.is_array());
    CHECK(emails_of(users) == members);
    for (const auto& u : users) {
        CHECK(u.at("id").get<std::string>().rfind("usr_", 0) == 0);
        CHECK(u.at("uid").is_number_unsigned());
        CHECK(u.at("status") == "active");
    }
    // Every page put together by portalctl: the same members, one array.
    const auto paged = json_of("users list --all --per-page 1", owner);
    REQUIRE(paged.is_array());
    CHECK(emails_of(paged) == members);
    const auto managers = json_of("users list --role manager", owner);
    REQUIRE(managers.size() == 1);
    CHECK(managers[0].at("id") == mgr.id);

    const auto shown = json_of("users show mgr@example.com", owner);
    CHECK(shown.at("id") == mgr.id);
    CHECK(shown.at("role") == "manager");
    CHECK(shown.at("uid") == mgr.uid);
    CHECK(shown.at("tfa_enabled") == false);

    const auto keys = json_of("keys list", owner);
    REQUIRE(keys.is_array());
    REQUIRE(keys.size() == 1);
    CHECK(keys[0].at("name") == "laptop");
    CHECK(keys[0].at("fingerprint") == kCliKeyAnnMd5);
    CHECK(keys[0].at("fingerprint_sha256") == kCliKeyAnnSha256);
    CHECK(keys[0].at("user_id") == seed.owner.id);
    const auto key = json_of(std::string("keys show ") + kCliKeyAnnSha256, owner);
    CHECK(key.at("fingerprint") == kCliKeyAnnMd5);
    CHECK(key.at("type") == "ssh-ed25519");
    CHECK(key.at("public_key").get<std::string>().rfind("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMagWQ", 0) == 0);
    CHECK(json_of("keys list", mgr.uid).empty());  // a manager sees their own

    const auto status = json_of("status", owner);
    CHECK(status.at("account").at("id") == seed.account_id);
    CHECK(status.at("users").at("total") == 2);
    CHECK(status.at("ssh_keys").at("total") == 1);
    CHECK(status.contains("server"));

    const auto profile = json_of("profile show", mgr.uid);
    CHECK(profile.at("id") == mgr.id);
    CHECK(profile.at("email") == "mgr@example.com");
    REQUIRE(profile.at("accounts").is_array());
    REQUIRE(profile.at("accounts").size() == 1);
    CHECK(profile.at("accounts")[0].at("id") == seed.account_id);
    CHECK(profile.at("accounts")[0].at("role") == "manager");

    CHECK(json_of("logins", owner) == nlohmann::json::array());
    CHECK(json_of("hosts list", owner) == nlohmann::json::array());
    CHECK(json_of("homes", 0).is_array());
    CHECK(json_of("invitations", owner) == nlohmann::json::array());
    const auto contacts = json_of("contacts list", owner);
    REQUIRE(contacts.size() == 1);
    CHECK(contacts[0].at("email") == "sec@example.com");
    const auto tickets = json_of("tickets list", owner);
    REQUIRE(tickets.size() == 1);
    CHECK(tickets[0].at("subject") == "Disk full");
    CHECK(json_of("tokens list", owner).is_array());
    CHECK(json_of("allowlist show", owner).is_object());

    // Writes answer with the object they made or changed.
    const auto added = json_of("users add --email new@example.com --name New --role manager", owner);
    CHECK(added.at("email") == "new@example.com");
    CHECK(added.at("role") == "manager");
    const auto key2 = json_of(std::string("keys add --name desk --key ") + shell_quote(kCliKeyBob), owner);
    CHECK(key2.at("name") == "desk");
    const auto renamed = json_of("account set --name Acme", owner);
    CHECK(renamed.at("name") == "Acme");
    const auto enrol = json_of("tfa enable", mgr.uid);
    CHECK(enrol.at("secret").is_string());
    CHECK(enrol.at("otpauth_uri").get<std::string>().rfind("otpauth://totp/", 0) == 0);

    // An error with --json: nothing on stdout for a script to mistake for an answer.
    const CliResult missing = ctl.run("--json users show usr_doesnotexist", owner);
    INFO(missing);
    CHECK(missing.status == 5);
    CHECK(missing.out.empty());
    CHECK(missing.err.find("HTTP 404") != std::string::npos);
}

namespace {

// "<label>" padded with dots to `width` characters: the columns stay where the real value put them.
std::string cli_placeholder(const std::string& label, std::size_t width) {
    const std::size_t bare = label.size() + 2;
    return "<" + label + std::string(width > bare ? width - bare : 0, '.') + ">";
}

// The table output with what differs from run to run (ids, uids, times, paths) replaced by
// placeholders as wide as the values (`literal`: value, label). With `sort_rows`, the lines
// after the first `header_lines` are sorted: lists come in id order, and ids are random.
std::string cli_normalise(std::string s, const std::vector<std::pair<std::string, std::string>>& literal,
                          std::size_t header_lines = 0, bool sort_rows = false) {
    for (const auto& [from, label] : literal) {
        const std::string to = cli_placeholder(label, from.size());
        for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
            s.replace(at, from.size(), to);
    }
    if (sort_rows) {
        auto rows = cli_lines(s);
        if (rows.size() > header_lines) std::sort(rows.begin() + static_cast<std::ptrdiff_t>(header_lines), rows.end());
        s.clear();
        for (const auto& row : rows) s += row + "\n";
    }
    static const std::vector<std::pair<std::regex, std::string>> patterns = {
        {std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)"), "<time>"},
    };
    for (const auto& [re, to] : patterns) s = std::regex_replace(s, re, to);
    return s;
}

// Compares with tests/api/golden/portalctl/<name>; PORTAL_UPDATE_GOLDEN=1 rewrites it instead.
void cli_check_golden(const std::string& name, const std::string& actual) {
    const cli_fs::path file = cli_fs::path(PORTAL_SOURCE_DIR) / "tests/api/golden/portalctl" / name;
    if (const char* update = std::getenv("PORTAL_UPDATE_GOLDEN"); update != nullptr && std::string(update) == "1") {
        cli_fs::create_directories(file.parent_path());
        std::ofstream(file, std::ios::binary | std::ios::trunc) << actual;
        WARN("rewrote " << file.string());
        return;
    }
    INFO("golden file " << file.string() << " (PORTAL_UPDATE_GOLDEN=1 rewrites it)\n--- actual\n" << actual);
    REQUIRE(cli_fs::exists(file));
    CHECK(read_file(file) == actual);
}

}  // namespace

TEST_CASE("portalctl cli: tables of a fixed fixture match the golden files", "[api][portalctl][cli]") {
    Daemon d("cli-golden");
    const auto seed = seed_account(d, "Snapshot Co", "snap");
    const auto ann = add_member(d, seed.account_id, "ann@example.com", "manager");
    const auto bob = add_member(d, seed.account_id, "bob@example.com", "manager", "invited");
    REQUIRE(d.post("/v1/ssh_keys", {{"name", "ann-laptop"}, {"public_key", kCliKeyAnn}}, ann.uid).status == 201);
    REQUIRE(d.post("/v1/ssh_keys", {{"name", "owner-desk"}, {"public_key", kCliKeyBob}, {"labels", {{"env", "prod"}}}},
                   seed.owner.uid)
                .status == 201);
    const CliCtl ctl(d);
    const std::vector<std::pair<std::string, std::string>> literal = {
        {seed.account_id, "account"},   {seed.owner.id, "owner-id"},       {ann.id, "ann-id"},
        {bob.id, "bob-id"},             {std::to_string(seed.owner.uid), "u1"}, {std::to_string(ann.uid), "u2"},
        {std::to_string(bob.uid), "u3"}, {ctl.socket(), "socket"},
    };
    const auto table = [&](const std::string& args, uid_t uid, std::size_t header_lines = 0, bool sort_rows = false) {
        const CliResult r = ctl.run(args, uid);
        INFO("portalctl " << args << "\n" << r);
        REQUIRE(r.status == 0);
        CHECK(r.err.empty());
        return cli_normalise(r.out, literal, header_lines, sort_rows);
    };
    // "Account: ..." and the column names, then the rows.
    cli_check_golden("users_list.txt", table("users list", seed.owner.uid, 2, true));
    cli_check_golden("keys_list.txt", table("keys list", seed.owner.uid, 2, true));
    cli_check_golden("accounts_list.txt", table("accounts list", ann.uid));
    cli_check_golden("account_show.txt", table("account show", seed.owner.uid));
    cli_check_golden("key_show.txt", table(std::string("keys show ") + kCliKeyAnnMd5, seed.owner.uid));
}

TEST_CASE("portalctl cli: the common mistakes get one clear line", "[api][portalctl][cli]") {
    Daemon d("cli-mistakes");
    const auto alpha = seed_account(d, "Alpha", "alpha");
    const auto beta = seed_account(d, "Beta", "beta");
    const auto mgr = add_member(d, alpha.account_id, "mgr@example.com", "manager");
    const CliCtl ctl(d);

    SECTION("no daemon: exit 3 and one line naming the socket") {
        const std::string nothing = (d.dir() / "nothing.sock").string();
        for (const uid_t uid : {uid_t{0}, alpha.owner.uid}) {
            const CliResult r = ctl.run_on(nothing, "users list", uid);
            INFO(r);
            CHECK(r.status == 3);
            CHECK(r.out.empty());
            CHECK(cli_lines(r.err) ==
                  std::vector<std::string>{"portalctl: cannot connect to " + nothing +
                                           ": No such file or directory (is portal-keyd running?)"});
        }
        // A socket file nobody listens on (a daemon that died): refused, the same advice.
        const std::string stale = (d.dir() / "stale.sock").string();
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, stale.c_str(), sizeof a.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
        const CliResult r = ctl.run_on(stale, "status");
        ::close(fd);
        INFO(r);
        CHECK(r.status == 3);
        CHECK(cli_lines(r.err) == std::vector<std::string>{"portalctl: cannot connect to " + stale +
                                                           ": Connection refused (is portal-keyd running?)"});
        // PORTAL_KEYD_SOCKET is where it looks without --socket.
        const CliResult env = ctl.run("status", 0, "", "PORTAL_KEYD_SOCKET=" + shell_quote(nothing));
        INFO(env);
        CHECK(env.status == 0);  // --socket wins over the environment
    }
    SECTION("a uid that is no member of any account: 403 and why, for every account command") {
        for (const char* args : {"users list", "keys list", "account show", "status", "profile show", "logins",
                                 "accounts list"}) {
            const CliResult r = ctl.run(args, kUnknownUid);
            INFO(args << "\n" << r);
            CHECK(r.status == 6);
            CHECK(r.out.empty());
            REQUIRE(cli_lines(r.err).size() == 1);
            CHECK(r.err.find("HTTP 403") != std::string::npos);
        }
    }
    SECTION("an account that does not exist, and one the caller is not in: the same 404") {
        const CliResult none = ctl.run("--account acc_doesnotexist users list", alpha.owner.uid);
        INFO(none);
        CHECK(none.status == 5);
        CHECK(none.out.empty());
        CHECK(none.err.find("account not found") != std::string::npos);
        const CliResult foreign = ctl.run("--account " + beta.account_id + " users list", alpha.owner.uid);
        INFO(foreign);
        CHECK(foreign.status == 5);
        CHECK(foreign.err == none.err);  // no hint that Beta exists
        const CliResult root = ctl.run("--account acc_doesnotexist users list");
        INFO(root);
        CHECK(root.status == 5);
        CHECK(root.err.find("account not found") != std::string::npos);
        CHECK(ctl.run("--account " + beta.account_id + " users list").status == 0);  // root is in every account
    }
    SECTION("an account chosen with accounts use and left since: the error says where it came from") {
        REQUIRE(d.post("/v1/account/users", {{"email", mgr.email}, {"name", "M"}, {"role", "manager"}}, 0,
                       account_header(beta.account_id))
                    .status == 201);
        // The choice is kept in the member's own config directory.
        const auto config = d.dir() / "mgr-config";
        cli_fs::create_directories(config);
        REQUIRE(::chown(config.c_str(), mgr.uid, mgr.uid) == 0);
        const std::string as_mgr = "XDG_CONFIG_HOME=" + shell_quote(config.string());
        const CliResult use = ctl.run("accounts use " + beta.account_id, mgr.uid, "", as_mgr);
        INFO(use);
        REQUIRE(use.status == 0);
        CHECK(ctl.run("users list", mgr.uid, "", as_mgr).out.find("Account: Beta") != std::string::npos);
        REQUIRE(d.del("/v1/account/users/" + mgr.id, 0, account_header(beta.account_id)).status == 204);
        const CliResult gone = ctl.run("users list", mgr.uid, "", as_mgr);
        INFO(gone);
        CHECK(gone.status == 5);
        CHECK(gone.err.find("account not found") != std::string::npos);
        CHECK(gone.err.find("'portalctl accounts use' selected") != std::string::npos);
        CHECK(ctl.run("accounts use --none", mgr.uid, "", as_mgr).status == 0);
        CHECK(ctl.run("users list", mgr.uid, "", as_mgr).out.find("Account: Alpha") != std::string::npos);
    }
    SECTION("the wrong role: owners' and root's commands refused with the daemon's reason") {
        for (const char* args : {"users add --email x@example.com --name X --role manager",
                                 "account enforce-2fa on --confirm ACC", "allowlist on", "users remove OWNER"}) {
            std::string cmd = args;
            if (auto at = cmd.find("ACC"); at != std::string::npos) cmd.replace(at, 3, alpha.account_id);
            if (auto at = cmd.find("OWNER"); at != std::string::npos) cmd.replace(at, 5, alpha.owner.id);
            const CliResult r = ctl.run(cmd, mgr.uid);
            INFO(cmd << "\n" << r);
            CHECK(r.status == 6);
            CHECK(r.out.empty());
            CHECK(cli_lines(r.err).size() == 1);
            CHECK(r.err.find("HTTP 403") != std::string::npos);
        }
        for (const std::string& cmd : {std::string("support staff add mgr@example.com"), std::string("support staff remove mgr@example.com")}) {
            const CliResult r = ctl.run(cmd, alpha.owner.uid);
            INFO(cmd << "\n" << r);
            CHECK(r.status == 6);
            CHECK(r.err.find("HTTP 403") != std::string::npos);
        }
        const CliResult join = ctl.run("join https://portal.example:8443", alpha.owner.uid, "", "PORTAL_ENROLMENT_TOKEN=x");
        INFO(join);
        CHECK(join.status == 6);
        CHECK(join.err.find("HTTP 403") != std::string::npos);
    }
}
