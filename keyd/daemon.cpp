#include "keyd/daemon.h"

#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

#include "keyd/api/http_server.h"
#include "keyd/api/https_server.h"
#include "keyd/api/long_polls.h"
#include "keyd/api/router.h"
#include "keyd/config/config.h"
#include "keyd/iam/authority/authority.h"
#include "keyd/log/log.h"
#include "keyd/login/login_service.h"
#include "keyd/login/login_socket.h"
#include "keyd/login/login_view.h"
#include "keyd/login/refresher.h"
#include "keyd/login/userdb_publisher.h"
#include "keyd/net/io_thread.h"
#include "keyd/net/listen_address.h"
#include "keyd/net/tls_identity.h"
#include "keyd/revoke/session_terminator.h"
#include "keyd/store/store.h"
#include "keyd/tfa/tfa_service.h"
#include "keyd/userdb/local_accounts_watch.h"
#include "keyd/userdb/userdb.h"

namespace portal {
namespace {

namespace asio = boost::asio;

void make_dir(const std::filesystem::path& p, mode_t mode) {
    std::filesystem::create_directories(p);
    if (::chmod(p.c_str(), mode) != 0)
        throw std::runtime_error(p.string() + ": cannot set mode: " + std::strerror(errno));
}

iam::SessionSettings session_settings(const config::Config& c) {
    iam::SessionSettings s;
    s.lifetime = c.api_session_lifetime;
    s.max_failures_per_email = c.api_sign_in_max_failures;
    s.max_failures_per_address = c.api_sign_in_max_failures_per_address;
    s.failure_window = c.api_sign_in_lockout;
    s.lockout = c.api_sign_in_lockout;
    return s;
}

tfa::Settings tfa_settings(const config::Config& c) {
    tfa::Settings s;
    s.issuer = c.tfa_issuer;
    s.enrolment_ttl = c.tfa_enrolment_ttl;
    s.limits.max_failures = c.tfa_max_failures;
    s.limits.window = c.tfa_failure_window;
    s.limits.lockout = c.tfa_lockout;
    return s;
}

log::Level level_of(const config::Config& c) {
    log::Level l = log::Level::info;
    log::parse_level(c.log_level, l);
    return l;
}

login::ViewSettings view_settings(const config::Config& c) {
    return login::ViewSettings{c.login_account_id, c.login_roles, c.login_fallback_grace, c.login_apply_ip_allowlist};
}

userdb::UserdbConfig userdb_config(const config::Config& c) {
    userdb::UserdbConfig u;
    u.dropin_directory = c.userdb_dropin_directory;
    u.socket_directory = c.userdb_socket_directory;
    u.service = c.userdb_service;
    u.role_groups = c.userdb_role_groups;
    u.tfa_group = c.userdb_tfa_group;
    u.tfa_group_gid = static_cast<gid_t>(c.userdb_tfa_group_gid);
    u.home_base = c.userdb_home_base.string();
    u.shell = c.userdb_shell.string();
    u.dropin_members = static_cast<std::size_t>(c.userdb_dropin_members);
    u.dropin_max_age = c.userdb_dropin_max_age;
    return u;
}

// The keys helper's account (sshd's AuthorizedKeysCommandUser), looked up at start and reload.
struct HelperUser {
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
};

HelperUser lookup_helper(const std::string& name) {
    HelperUser h;
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) == 0 && found) {
        h.uid = found->pw_uid;
        h.gid = found->pw_gid;
    } else {
        log::info("login: helper user does not exist: only root may use the login socket, state file mode 0600",
                  {{"helper_user", name}});
    }
    return h;
}

std::vector<uid_t> allowed_uids(const HelperUser& h) {
    if (h.uid && *h.uid != 0) return {*h.uid};
    return {};
}

login::RefresherSettings refresher_settings(const config::Config& c, const HelperUser& h) {
    login::RefresherSettings s;
    s.state_dir = c.login_state_dir;
    s.state_dir_group = h.gid;
    s.legacy_state_file = c.runtime_directory / "login-state.json";  // the single file before the directory
    s.terminate_sessions = c.revoke_terminate_sessions;
    s.allowed_record = c.state_directory / "allowed-members.json";
    return s;
}

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
}

// Settings that only a restart applies: say so instead of half-applying them.
void log_restart_needed(const config::Config& running, const config::Config& fresh) {
    std::vector<std::string> changed;
    auto cmp = [&](const char* key, const auto& a, const auto& b) {
        if (a != b) changed.emplace_back(key);
    };
    cmp("daemon.state_directory", running.state_directory, fresh.state_directory);
    cmp("daemon.runtime_directory", running.runtime_directory, fresh.runtime_directory);
    cmp("daemon.api_socket", running.api_socket, fresh.api_socket);
    cmp("daemon.login_socket", running.login_socket, fresh.login_socket);
    cmp("daemon.database", running.database, fresh.database);
    cmp("daemon.secret_key", running.secret_key, fresh.secret_key);
    cmp("users.uid_min", running.uid_min, fresh.uid_min);
    cmp("users.uid_max", running.uid_max, fresh.uid_max);
    cmp("api.max_body_bytes", running.api_max_body_bytes, fresh.api_max_body_bytes);
    cmp("api.request_timeout", running.api_request_timeout, fresh.api_request_timeout);
    cmp("api.max_connections_per_uid", running.api_max_connections_per_uid, fresh.api_max_connections_per_uid);
    cmp("login.state_dir", running.login_state_dir, fresh.login_state_dir);
    cmp("userdb.dropin_directory", running.userdb_dropin_directory, fresh.userdb_dropin_directory);
    cmp("userdb.socket_directory", running.userdb_socket_directory, fresh.userdb_socket_directory);
    cmp("userdb.service", running.userdb_service, fresh.userdb_service);
    cmp("userdb.tfa_group", running.userdb_tfa_group, fresh.userdb_tfa_group);
    cmp("userdb.tfa_group_gid", running.userdb_tfa_group_gid, fresh.userdb_tfa_group_gid);
    cmp("userdb.home_base", running.userdb_home_base, fresh.userdb_home_base);
    cmp("userdb.shell", running.userdb_shell, fresh.userdb_shell);
    cmp("userdb.role_groups", running.userdb_role_groups, fresh.userdb_role_groups);
    cmp("userdb.dropin_members", running.userdb_dropin_members, fresh.userdb_dropin_members);
    cmp("userdb.dropin_max_age", running.userdb_dropin_max_age.count(), fresh.userdb_dropin_max_age.count());
    for (const auto& key : changed)
        log::warning("configuration reload: this setting needs a restart; keeping the running value", {{"key", key}});
}

// Sends WATCHDOG=1 at half the interval systemd asked for.
void arm_watchdog(asio::steady_timer& t, std::chrono::microseconds interval) {
    t.expires_after(interval / 2);
    t.async_wait([&t, interval](const boost::system::error_code& ec) {
        if (ec) return;
        sd_notify(0, "WATCHDOG=1");
        arm_watchdog(t, interval);
    });
}

// The listener's certificate: the configured files, else the self-signed pair (made now if
// this is the first start with HTTPS).
net::TlsIdentity tls_identity(const config::Config& cfg) {
    if (!cfg.tls_certificate.empty()) return net::configured_tls_identity(cfg.tls_certificate, cfg.tls_private_key);
    return net::self_signed_tls_identity(cfg.self_signed_tls_directory(), host_name());
}

// Each HTTPS connection is a file descriptor: the soft limit (often 1024) goes up to the hard
// one when the connection cap needs it. Asio uses epoll, never select(), so large fds are fine.
void raise_open_file_limit(std::size_t connections) {
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    const rlim_t want = static_cast<rlim_t>(connections) + 256;  // sockets, files, the store
    if (rl.rlim_cur >= want) return;
    const rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        log::warning("the open file limit is below what [listen] max_connections needs",
                     {{"limit", std::to_string(rl.rlim_cur)}, {"was", std::to_string(before)},
                      {"max_connections", std::to_string(connections)}});
}

}  // namespace

int print_tls_pin(const DaemonOptions& opts) {
    try {
        const auto cfg = config::load_config(opts.config_path, opts.config_given);
        const net::TlsIdentity id = tls_identity(cfg);
        std::printf("%s\n", id.pin.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "portal-keyd: %s\n", e.what());
        return 1;
    }
}

int run_daemon(const DaemonOptions& opts) {
    config::Config cfg;
    try {
        cfg = config::load_config(opts.config_path, opts.config_given);
    } catch (const config::ConfigError& e) {
        log::init(log::Level::info);
        log::error("invalid configuration", {{"error", e.what()}});
        return 78;  // EX_CONFIG
    }
    log::init(level_of(cfg));
    ::signal(SIGPIPE, SIG_IGN);
    ::umask(077);
    // Before any NSS call of ours: our own getpwnam() must never ask our userdb provider
    // (it answers on the login thread, but a lookup must not depend on our own answers).
    userdb::ensure_userdb_bypass(userdb_config(cfg));

    try {
        make_dir(cfg.state_directory, 0700);
        make_dir(cfg.runtime_directory, 0755);  // sockets inside must be reachable by members

        auto store = store::Store::open(cfg.database, {cfg.uid_min, cfg.uid_max}, store::LocalAccounts::from_passwd());
        store->set_change_log_retention({cfg.store_change_log_revisions, cfg.store_change_log_max_age, 1000});
        auto clock = [] { return std::chrono::system_clock::now(); };
        tfa::TfaService tfa(*store, SecretBox::load_or_create(cfg.secret_key), tfa_settings(cfg), clock);

        // Everything holding Asio objects is declared after its io_context, so it goes first.
        // io: the API, store writes, publication, revocation, timers, signals. login_io (its
        // own thread, started below): the login socket and the userdb provider, which answer
        // from immutable snapshots the main thread hands over, and never wait for it.
        asio::io_context io(1);
        asio::io_context login_io(1);

        // The login path: state from the store -> userdb, login socket, state file, revocations.
        login::StoreLoginStateSource login_source(*store, view_settings(cfg), clock);
        login::LoginService login_service(*store, tfa, host_name(), clock,
                                          [&io](std::function<void()> task) { asio::post(io, std::move(task)); });
        revoke::SessionTerminator terminator(io, {cfg.uid_min, cfg.uid_max, std::chrono::milliseconds(2000), "/proc"});
        login::UserdbPublisher publisher(login_io, userdb_config(cfg));
        login_service.on_logins([&publisher](const std::vector<std::string>& names) { publisher.logged_in(names); });
        HelperUser helper = lookup_helper(cfg.login_helper_user);
        login::Refresher refresher(
            io, login_source, login_service, &publisher,
            [&terminator](std::uint32_t uid) { terminator.terminate_user(uid); }, refresher_settings(cfg, helper));

        // Feed long-polls (GET /v1/iam/changes?wait=) are asked again after every write.
        api::LongPolls long_polls(io);
        iam::authority::Authority authority(*store, tfa, [&refresher, &long_polls] {
            refresher.request_refresh();
            long_polls.notify();
        });
        authority.set_session_settings(session_settings(cfg));

        iam::ServerStatus https_status;  // filled once the HTTPS listener is up
        iam::ServerStatusService server_status([&refresher, &https_status] {
            const login::RefresherStatus r = refresher.status();
            iam::ServerStatus s;
            s.account_id = r.account_id;
            s.revision = r.revision;
            s.state_file_current = r.state_file.current;
            s.state_file_error = r.state_file.error;
            for (const auto& c : r.collisions) s.collisions.push_back({c.user_id, c.unix_name, c.reason, c.uid});
            s.https_endpoints = https_status.https_endpoints;
            s.https_pin = https_status.https_pin;
            s.https_error = https_status.https_error;
            return s;
        });
        api::Router router(authority.services());
        api::register_v1_routes(router, server_status, &long_polls);

        login::LoginSocket login_socket(login_io, cfg.login_socket, login_service);
        login_socket.set_access(allowed_uids(helper), helper.gid);
        // The login state exists before we say READY: sshd may ask right after. The API socket
        // comes last, so its appearance also means the login socket, state file and userdb
        // records are in place (tests and scripts wait for it).
        refresher.refresh();
        refresher.start_touch_timer();
        // Serving logins starts with the first state in place. Declared after the login socket
        // and the provider: destroyed first, it stops their io_context and joins the thread.
        bool login_thread_failed = false;
        net::IoThread login_thread(login_io, "portal-login", [&io, &login_thread_failed] {
            asio::post(io, [&io, &login_thread_failed] {
                login_thread_failed = true;
                io.stop();
            });
        });
        // A local account named like a member (or with a member's uid) unpublishes the member
        // within a second, not at the next write.
        std::optional<userdb::LocalAccountsWatch> local_accounts;
        try {
            local_accounts.emplace(io, [&refresher] { refresher.request_refresh(); });
        } catch (const std::exception& e) {
            log::error("cannot watch /etc/passwd and /etc/group; collisions are checked at the next change only",
                       {{"error", e.what()}});
        }

        api::ServerLimits limits;
        limits.max_body_bytes = cfg.api_max_body_bytes;
        limits.request_timeout = cfg.api_request_timeout;
        limits.max_connections_per_uid = cfg.api_max_connections_per_uid;
        // 0666: every local user may connect; who they are comes from SO_PEERCRED, and a uid
        // that is neither root nor a portal user is refused at accept, holding no slot.
        api::HttpServer api_server(
            io, cfg.api_socket, 0666, limits, [&router](const api::Request& r) { return router.dispatch(r); },
            [&store](uid_t uid) { return uid == 0 || store->users().by_uid(static_cast<std::uint32_t>(uid)).has_value(); });

        // The same API over HTTPS, when configured: the caller is the request's Bearer
        // credential (the router), and the connection limits are per client address.
        std::optional<api::HttpsServer> https_server;
        if (!cfg.listen_https.empty()) {
            // A listener that cannot start is logged and shown in /v1/server, and the daemon
            // goes on: logins on this server must not depend on the network face.
            try {
                api::HttpsSettings hs;
                for (const auto& text : cfg.listen_https) {
                    std::string error;
                    hs.listen.push_back(*net::parse_listen_address(text, error));  // validated with the config
                }
                hs.identity = tls_identity(cfg);
                hs.max_connections = cfg.https_max_connections;
                hs.max_connections_per_address = cfg.https_max_connections_per_address;
                api::ServerLimits tls_limits = limits;
                tls_limits.idle_timeout = cfg.https_idle_timeout;
                tls_limits.handshake_timeout = cfg.https_handshake_timeout;
                raise_open_file_limit(cfg.https_max_connections);
                router.set_rate_limits({cfg.https_requests_per_minute_per_address,
                                        cfg.https_requests_per_minute_per_credential});
                https_server.emplace(io, hs, tls_limits, [&router](const api::Request& r) { return router.dispatch(r); });
                https_status.https_endpoints = https_server->endpoints();
                https_status.https_pin = hs.identity.pin;
                std::string where;
                for (const auto& e : https_status.https_endpoints) where += (where.empty() ? "" : " ") + e;
                log::info("HTTPS listener", {{"listening", where},
                                             {"certificate", hs.identity.certificate.string()},
                                             {"self_signed", hs.identity.self_signed ? "yes" : "no"},
                                             {"pin", hs.identity.pin}});
            } catch (const std::exception& e) {
                https_status.https_error = e.what();
                log::error("the HTTPS listener could not start; serving on the local sockets only",
                           {{"error", e.what()}});
            }
        }

        asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
        std::function<void(const boost::system::error_code&, int)> on_signal;
        on_signal = [&](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                sd_notify(0, "RELOADING=1");
                try {
                    auto fresh = config::load_config(opts.config_path, opts.config_given);
                    log_restart_needed(cfg, fresh);
                    log::set_level(level_of(fresh));
                    tfa.set_settings(tfa_settings(fresh));
                    authority.set_session_settings(session_settings(fresh));
                    // Login rules: account, roles, grace, revocation, the helper user.
                    cfg.log_level = fresh.log_level;
                    cfg.login_account_id = fresh.login_account_id;
                    cfg.login_roles = fresh.login_roles;
                    cfg.login_fallback_grace = fresh.login_fallback_grace;
                    cfg.login_apply_ip_allowlist = fresh.login_apply_ip_allowlist;
                    cfg.login_helper_user = fresh.login_helper_user;
                    cfg.revoke_terminate_sessions = fresh.revoke_terminate_sessions;
                    helper = lookup_helper(cfg.login_helper_user);
                    login_socket.set_access(allowed_uids(helper), helper.gid);
                    login_source.set_settings(view_settings(cfg));
                    refresher.set_settings(refresher_settings(cfg, helper));
                    refresher.refresh();
                    log::info("configuration reloaded", {{"path", opts.config_path.string()}});
                } catch (const std::exception& e) {
                    log::error("configuration reload failed, keeping the running one", {{"error", e.what()}});
                }
                sd_notify(0, "READY=1");
                signals.async_wait(on_signal);
                return;
            }
            log::info("stopping", {{"signal", std::to_string(sig)}});
            sd_notify(0, "STOPPING=1");
            refresher.save_state_dir_manifest();  // nothing runs after this: io stops
            io.stop();
        };
        signals.async_wait(on_signal);

        asio::steady_timer watchdog(io);
        uint64_t wd_usec = 0;
        if (sd_watchdog_enabled(0, &wd_usec) > 0) arm_watchdog(watchdog, std::chrono::microseconds(wd_usec));

        log::info("ready", {{"mode", "authority"},
                            {"api_socket", cfg.api_socket.string()},
                            {"login_socket", cfg.login_socket.string()},
                            {"state_dir", cfg.login_state_dir.string()},
                            {"userdb", cfg.userdb_dropin_directory.string()},
                            {"database", cfg.database.string()},
                            {"revision", std::to_string(store->revision())}});
        sd_notify(0, "READY=1");
        io.run();
        if (login_thread_failed) return 1;
    } catch (const std::exception& e) {
        log::error("fatal", {{"error", e.what()}});
        return 1;
    }
    log::info("stopped");
    return 0;
}

}  // namespace portal
