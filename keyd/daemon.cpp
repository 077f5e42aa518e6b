#include "keyd/daemon.h"

#include <signal.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>
#include <memory>

#include "keyd/api/http_server.h"
#include "keyd/api/router.h"
#include "keyd/config/config.h"
#include "keyd/iam/authority_service.h"
#include "keyd/log/log.h"
#include "keyd/store/store.h"
#include "keyd/tfa/tfa_service.h"

namespace portal {
namespace {

namespace asio = boost::asio;

void make_dir(const std::filesystem::path& p, mode_t mode) {
    std::filesystem::create_directories(p);
    if (::chmod(p.c_str(), mode) != 0)
        throw std::runtime_error(p.string() + ": cannot set mode: " + std::strerror(errno));
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

// Sends WATCHDOG=1 at half the interval systemd asked for.
void arm_watchdog(asio::steady_timer& t, std::chrono::microseconds interval) {
    t.expires_after(interval / 2);
    t.async_wait([&t, interval](const boost::system::error_code& ec) {
        if (ec) return;
        sd_notify(0, "WATCHDOG=1");
        arm_watchdog(t, interval);
    });
}

}  // namespace

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

    try {
        make_dir(cfg.state_directory, 0700);
        make_dir(cfg.runtime_directory, 0755);  // sockets inside must be reachable by members

        auto store = store::Store::open(cfg.database, {cfg.uid_min, cfg.uid_max});
        auto clock = [] { return std::chrono::system_clock::now(); };
        tfa::TfaService tfa(*store, SecretBox::load_or_create(cfg.secret_key), tfa_settings(cfg), clock);
        iam::AuthorityService service(*store, tfa);

        api::Router router(service);
        api::register_account_routes(router);
        api::register_user_routes(router);
        api::register_profile_routes(router);
        api::register_ssh_key_routes(router);

        asio::io_context io(1);
        api::ServerLimits limits;
        limits.max_body_bytes = cfg.api_max_body_bytes;
        limits.request_timeout = cfg.api_request_timeout;
        // 0666: every local user may connect; who they are comes from SO_PEERCRED.
        api::HttpServer api_server(io, cfg.api_socket, 0666, limits,
                                   [&router](const api::Request& r) { return router.dispatch(r); });

        asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
        std::function<void(const boost::system::error_code&, int)> on_signal;
        on_signal = [&](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                sd_notify(0, "RELOADING=1");
                try {
                    auto fresh = config::load_config(opts.config_path, opts.config_given);
                    log::set_level(level_of(fresh));
                    tfa.set_settings(tfa_settings(fresh));
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
            io.stop();
        };
        signals.async_wait(on_signal);

        asio::steady_timer watchdog(io);
        uint64_t wd_usec = 0;
        if (sd_watchdog_enabled(0, &wd_usec) > 0) arm_watchdog(watchdog, std::chrono::microseconds(wd_usec));

        log::info("ready", {{"mode", "authority"},
                            {"api_socket", cfg.api_socket.string()},
                            {"database", cfg.database.string()},
                            {"revision", std::to_string(store->revision())}});
        sd_notify(0, "READY=1");
        io.run();
    } catch (const std::exception& e) {
        log::error("fatal", {{"error", e.what()}});
        return 1;
    }
    log::info("stopped");
    return 0;
}

}  // namespace portal
