// Authority mode's composition root: config -> store -> services -> sockets.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "keyd/api/http_server.h"
#include "keyd/api/https_server.h"
#include "keyd/api/long_polls.h"
#include "keyd/api/router.h"
#include "keyd/iam/authority/authority.h"
#include "keyd/modes/common.h"
#include "keyd/modes/modes.h"
#include "keyd/modes/support_expiry.h"
#include "keyd/net/listen_address.h"
#include "keyd/notify/mailer.h"
#include "keyd/store/store.h"
#include "keyd/tfa/tfa_service.h"

namespace portal::modes {
namespace {

namespace asio = boost::asio;

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

notify::MailerSettings mailer_settings(const config::Config& c) {
    notify::MailerSettings s;
    s.sendmail = c.notifications_sendmail;
    s.from = c.notifications_from.empty() ? "portal-keyd@" + host_name() : c.notifications_from;
    return s;
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

net::TlsIdentity tls_identity(const config::Config& cfg) {
    if (!cfg.tls_certificate.empty()) return net::configured_tls_identity(cfg.tls_certificate, cfg.tls_private_key);
    return net::self_signed_tls_identity(cfg.self_signed_tls_directory(), host_name());
}

int run_authority(const DaemonOptions& opts, config::Config& cfg, Restart& restart) {
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
    LoginPath login_path(io, login_io, cfg, login_source, login_service);

    // Feed long-polls (GET /v1/iam/changes?wait=) are asked again after every write.
    api::LongPolls long_polls(io);
    // Security notifications go out on the mailer's own thread; a write may have queued one.
    notify::Mailer mailer(*store, mailer_settings(cfg));
    // Support access ends at its expiry time: re-armed after every write (a grant may move it).
    std::optional<SupportExpiry> support_expiry;
    iam::authority::Authority authority(*store, tfa, [&login_path, &long_polls, &support_expiry, &mailer] {
        login_path.request_refresh();
        long_polls.notify();
        if (support_expiry) support_expiry->poke();
        mailer.poke();
    });
    authority.set_session_settings(session_settings(cfg));
    support_expiry.emplace(io, authority.services().support);

    iam::ServerStatus https_status;  // filled once the HTTPS listener is up
    PortalJoiner joiner(io, cfg, opts.config_path, *store, restart);
    iam::ServerStatusService server_status([&login_path, &https_status, &cfg] {
        iam::ServerStatus s = server_status_of(login_path.refresher().status(), cfg);
        s.https_endpoints = https_status.https_endpoints;
        s.https_pin = https_status.https_pin;
        s.https_error = https_status.https_error;
        return s;
    }, [&joiner](iam::JoinRequest r, iam::ServerStatusService::Done done) { joiner.join(std::move(r), std::move(done)); },
    [&login_service](const login::ExplainQuery& q) { return login_service.explain(q); });
    api::Router router(authority.services());
    api::register_v1_routes(router, server_status, &long_polls);

    // The API socket comes last, so its appearance also means the login socket, state
    // file and userdb records are in place (tests and scripts wait for it).
    bool login_thread_failed = false;
    login_path.start([&io, &login_thread_failed] {
        login_thread_failed = true;
        io.stop();
    });
    support_expiry->run();  // what expired while the daemon was down ends now

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

    return serve_until_stopped(
        io, opts, cfg, login_path,
        [&](const config::Config& fresh) {
            tfa.set_settings(tfa_settings(fresh));
            authority.set_session_settings(session_settings(fresh));
        },
        {{"mode", "authority"},
         {"api_socket", cfg.api_socket.string()},
         {"login_socket", cfg.login_socket.string()},
         {"state_dir", cfg.login_state_dir.string()},
         {"userdb", cfg.userdb_dropin_directory.string()},
         {"database", cfg.database.string()},
         {"revision", std::to_string(store->revision())}},
        login_thread_failed);
}

}  // namespace portal::modes
