// The HTTPS listener (issue 10): the real daemon on 127.0.0.1 with its self-signed
// certificate, reached by curl with --pinnedpubkey and by an OpenSSL client that offers what
// curl would not (old protocols, weak suites, unfinished handshakes, many idle connections).
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "tests/api/support/daemon_fixture.h"
#include "tests/api/support/helpers.h"
#include "tests/api/support/tls_client.h"

using namespace portal::test;

namespace {

DaemonOptions https_options(const std::string& more = "") {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\n" + more;
    return o;
}

struct Listener {
    std::string address;  // "127.0.0.1:41234"
    int port = 0;
    std::string pin;
};

// Where the daemon listens and its pin, as root reads them from /v1/server (in the account
// its logins follow: the first one, made here when there is none).
Listener listener_of(const Daemon& d) {
    auto accounts = d.get("/v1/accounts");
    REQUIRE(accounts.status == 200);
    const std::string account_id = accounts.json.empty() ? seed_account(d).account_id
                                                         : accounts.json.at(0)["id"].get<std::string>();
    auto r = d.get("/v1/server", 0, account_header(account_id));
    REQUIRE(r.status == 200);
    REQUIRE(r.json["https"].is_object());
    Listener l;
    l.address = r.json["https"]["listening"].at(0).get<std::string>();
    l.port = std::stoi(l.address.substr(l.address.rfind(':') + 1));
    l.pin = r.json["https"]["pin"].get<std::string>();
    return l;
}

struct CurlResult {
    int exit_code = -1;
    std::string output;  // headers and body (-i), or curl's error
};

// curl as a sysadmin would run it: the certificate trusted by its pin alone (-k leaves the
// chain unchecked; the pin is still enforced).
CurlResult curl(const Listener& l, const std::string& path, const std::string& pin, const std::string& extra = "") {
    int status = 0;
    CurlResult r;
    r.output = run_command("curl -sS -i -k --max-time 10 --pinnedpubkey " + shell_quote(pin) + " " + extra + " " +
                               shell_quote("https://" + l.address + path) + " 2>&1",
                           &status);
    r.exit_code = status;
    return r;
}

}  // namespace

TEST_CASE("https: off unless configured", "[https]") {
    Daemon d("https-off");
    const auto seed = seed_account(d);
    auto r = d.get("/v1/server", 0, account_header(seed.account_id));
    REQUIRE(r.status == 200);
    CHECK(r.json["https"].is_null());
}

TEST_CASE("https: self-signed certificate kept in the state directory, pinned by curl - no credential is 401",
          "[https]") {
    Daemon d("https-pin", https_options());
    const Listener l = listener_of(d);
    CHECK(l.pin.starts_with("sha256//"));
    CHECK(l.pin.size() == 8 + 44);

    // The key is the daemon's alone; the pin printed by the binary is the one served.
    struct stat st {};
    REQUIRE(::stat((d.state_dir() / "tls" / "key.pem").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    REQUIRE(::stat((d.state_dir() / "tls").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    int status = 0;
    const std::string printed =
        run_command(std::string(PORTAL_KEYD_BIN) + " --print-pin --config " + (d.dir() / "portal-keyd.toml").string(), &status);
    CHECK(status == 0);
    CHECK(printed == l.pin + "\n");

    SECTION("no credential: 401 with the Bearer challenge, whatever the path") {
        for (const std::string path : {"/v1/account", "/v1/no/such/path", "/v1/server"}) {
            const auto r = curl(l, path, l.pin);
            INFO(r.output);
            CHECK(r.exit_code == 0);
            CHECK(r.output.starts_with("HTTP/1.1 401"));
            CHECK(r.output.find("www-authenticate: Bearer realm=\"portal-keyd\"\r\n") != std::string::npos);
            CHECK(r.output.find("\"code\":\"UNAUTHORIZED\"") != std::string::npos);
        }
    }
    SECTION("a credential that is not accepted: 401 invalid_token, one message for every kind") {
        for (const std::string& token : std::vector<std::string>{"pk_tok_nope", "garbage", "pk_ses_", std::string(300, 'a')}) {
            const auto r = curl(l, "/v1/account", l.pin, "-H " + shell_quote("Authorization: Bearer " + token));
            INFO(r.output);
            CHECK(r.output.starts_with("HTTP/1.1 401"));
            CHECK(r.output.find("error=\"invalid_token\"") != std::string::npos);
            CHECK(r.output.find("invalid, expired or revoked credential") != std::string::npos);
        }
    }
    SECTION("another pin: curl refuses the server before sending anything") {
        const auto r = curl(l, "/v1/account", "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        INFO(r.output);
        CHECK(r.exit_code == 90);  // CURLE_SSL_PINNEDPUBKEYNOTMATCH
    }
    SECTION("a restart keeps the certificate: pinned clients go on") {
        d.stop();
        d.start();
        CHECK(listener_of(d).pin == l.pin);
    }
}

TEST_CASE("https: TLS 1.2 or newer with forward-secret AEAD suites only", "[https]") {
    Daemon d("https-tls", https_options());
    const Listener l = listener_of(d);

    TlsConnection modern("127.0.0.1", l.port);
    REQUIRE(modern.handshake());
    CHECK(modern.protocol() == "TLSv1.3");

    TlsOptions v12;
    v12.max_version = TLS1_2_VERSION;
    TlsConnection tls12("127.0.0.1", l.port, v12);
    REQUIRE(tls12.handshake());
    CHECK(tls12.protocol() == "TLSv1.2");

    // The client offers them (security level 0); the server's alert refuses them.
    for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
        TlsOptions old;
        old.min_version = version;
        old.max_version = version;
        old.security_level = 0;
        old.ciphers = "DEFAULT:@SECLEVEL=0";
        TlsConnection c("127.0.0.1", l.port, old);
        CHECK_FALSE(c.handshake());
        CHECK(c.error() == "tlsv1 alert protocol version");
    }
    // TLS 1.2 without forward secrecy (RSA key exchange) or without AEAD (CBC).
    for (const std::string suites : {"AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"}) {
        TlsOptions weak = v12;
        weak.ciphers = suites;
        TlsConnection c("127.0.0.1", l.port, weak);
        INFO(suites);
        CHECK_FALSE(c.handshake());
        CHECK(c.error() == "sslv3 alert handshake failure");
    }
    // The daemon serves on.
    CHECK(curl(l, "/v1/account", l.pin).output.starts_with("HTTP/1.1 401"));
}

TEST_CASE("https: plain HTTP to the TLS port is told to use HTTPS, other bytes are dropped", "[https]") {
    Daemon d("https-plain", https_options());
    const Listener l = listener_of(d);
    int status = 0;
    const std::string out = run_command(
        "curl -sS -i --max-time 10 " + shell_quote("http://" + l.address + "/v1/account") + " 2>&1", &status);
    INFO(out);
    CHECK(out.starts_with("HTTP/1.1 400"));
    CHECK(out.find("this port speaks HTTPS") != std::string::npos);

    const int fd = tcp_connect("127.0.0.1", l.port);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "\x01\x02garbage", 9) == 9);
    CHECK(closed_within(fd, 10));
    ::close(fd);
}

TEST_CASE("https: a handshake that never finishes is closed after the handshake timeout", "[https]") {
    Daemon d("https-slow", https_options("handshake_timeout = 1\n"));
    const Listener l = listener_of(d);
    // Connected, and nothing sent; then the first byte of a TLS record and nothing more.
    const int silent = tcp_connect("127.0.0.1", l.port);
    const int partial = tcp_connect("127.0.0.1", l.port);
    REQUIRE(silent >= 0);
    REQUIRE(partial >= 0);
    REQUIRE(::write(partial, "\x16\x03\x01", 3) == 3);
    CHECK(closed_within(silent, 10));
    CHECK(closed_within(partial, 10));
    ::close(silent);
    ::close(partial);
}

TEST_CASE("https: 1,000 idle TLS connections from one address cannot hold the daemon", "[https]") {
    // The soft limit of this process is raised for the test's own sockets.
    struct rlimit rl {};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur < 4096) {
        rl.rlim_cur = std::min<rlim_t>(4096, rl.rlim_max);
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    // Timeouts far longer than the flood takes, even on a loaded machine: what is counted is
    // the cap, not a race with them (the next case shows idle connections being dropped).
    Daemon d("https-idle", https_options("max_connections_per_address = 100\nidle_timeout = 120\n"
                                         "[api]\nrequest_timeout = 120\n"));
    const Listener l = listener_of(d);

    std::vector<std::unique_ptr<TlsConnection>> idle;
    int handshakes = 0;
    for (int i = 0; i < 1000; ++i) {
        idle.push_back(std::make_unique<TlsConnection>("127.0.0.1", l.port));
        if (idle.back()->handshake()) ++handshakes;
    }
    // The daemon kept its share for that address and closed the rest at accept.
    CHECK(handshakes == 100);

    // Another address is served meanwhile, and so is the local socket.
    TlsConnection other("127.0.0.1", l.port, {}, "127.0.0.2");
    REQUIRE(other.handshake());
    const std::string answer =
        other.round_trip("GET /v1/account HTTP/1.1\r\nHost: portal\r\nConnection: close\r\n\r\n");
    CHECK(answer.starts_with("HTTP/1.1 401"));
    CHECK(d.get("/v1/account").status == 200);

    // The idle clients go away: their address is served again.
    idle.clear();
    bool served_again = false;
    for (int attempt = 0; attempt < 50 && !served_again; ++attempt) {
        TlsConnection again("127.0.0.1", l.port);
        served_again = again.handshake();
        if (!served_again) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(served_again);
}

TEST_CASE("https: a connection that sends no request is dropped after request_timeout", "[https]") {
    Daemon d("https-norequest", https_options("[api]\nrequest_timeout = 1\n"));
    const Listener l = listener_of(d);
    TlsConnection quiet("127.0.0.1", l.port);
    REQUIRE(quiet.handshake());
    CHECK(closed_within(quiet.fd(), 30));
}

TEST_CASE("https: a listener that cannot start leaves the daemon serving the socket, and says why", "[https]") {
    // An address this machine does not have (TEST-NET-1): bind fails with EADDRNOTAVAIL.
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"192.0.2.1:8443\"\n";
    Daemon d("https-broken", o);
    const auto seed = seed_account(d);
    auto r = d.get("/v1/server", 0, account_header(seed.account_id));
    REQUIRE(r.status == 200);
    INFO(r.body);
    REQUIRE(r.json["https"].is_object());
    CHECK(r.json["https"]["listening"].empty());
    CHECK(r.json["https"]["error"].get<std::string>().find("192.0.2.1:8443") != std::string::npos);
    CHECK(d.log().find("the HTTPS listener could not start") != std::string::npos);
}

TEST_CASE("https: request budgets per address and per credential, with X-RateLimit headers and 429", "[https][ratelimit]") {
    DaemonOptions o;
    o.extra_toml = "[listen]\nhttps = \"127.0.0.1:0\"\nrequests_per_minute_per_address = 6\n"
                   "requests_per_minute_per_credential = 4\n";
    Daemon d("https-rate", o);
    const auto seed = seed_account(d);
    HttpsTarget from1 = https_listener(d);
    HttpsTarget from2 = from1;
    from2.source_ip = "127.0.0.2";
    HttpsTarget from3 = from1;
    from3.source_ip = "127.0.0.3";
    const auto token = create_api_token(d, seed.owner.uid, "t", "read_only");

    SECTION("an address: guesses count, the 7th request is refused, other addresses go on") {
        for (int i = 0; i < 6; ++i) {
            auto r = https_request(from1, "pk_tok_guess" + std::to_string(i), "GET", "/v1/account");
            CHECK(r.status == 401);
            CHECK(r.header("x-ratelimit-limit") == "6");
            CHECK(r.header("x-ratelimit-remaining") == std::to_string(5 - i));
        }
        auto refused = https_request(from1, token.secret, "GET", "/v1/account");
        CHECK(refused.status == 429);
        CHECK(refused.json["code"] == "TOO_MANY_REQUESTS");
        const long retry = header_long(refused, "retry-after");
        CHECK(retry >= 1);
        CHECK(retry <= 60);
        CHECK(https_request(from2, token.secret, "GET", "/v1/account").status == 200);
        CHECK(d.get("/v1/account").status == 200);  // the socket has no budget
    }
    SECTION("a credential: one budget whatever the address") {
        CHECK(https_request(from1, token.secret, "GET", "/v1/account").status == 200);
        CHECK(https_request(from1, token.secret, "GET", "/v1/account").status == 200);
        CHECK(https_request(from2, token.secret, "GET", "/v1/account").status == 200);
        auto last = https_request(from2, token.secret, "GET", "/v1/account");
        CHECK(last.status == 200);
        CHECK(last.header("x-ratelimit-remaining") == "0");
        CHECK(last.header("x-ratelimit-limit") == "4");  // the tighter budget is the one shown
        auto refused = https_request(from3, token.secret, "GET", "/v1/account");
        CHECK(refused.status == 429);
        CHECK(refused.has_header("retry-after"));
    }
}
