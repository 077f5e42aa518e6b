#include "keyd/modes/common.h"

#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "keyd/log/log.h"

namespace portal::modes {

void make_dir(const std::filesystem::path& p, mode_t mode) {
    std::filesystem::create_directories(p);
    if (::chmod(p.c_str(), mode) != 0)
        throw std::runtime_error(p.string() + ": cannot set mode: " + std::strerror(errno));
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
    u.uid_min = c.uid_min;
    u.uid_max = c.uid_max;
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
    cmp("portal.url", running.portal_url, fresh.portal_url);
    cmp("portal.pin", running.portal_pin, fresh.portal_pin);
    cmp("portal.ca_file", running.portal_ca_file, fresh.portal_ca_file);
    cmp("portal.host_token_file", running.portal_token_file, fresh.portal_token_file);
    cmp("portal.poll_wait", running.portal_poll_wait.count(), fresh.portal_poll_wait.count());
    cmp("portal.request_timeout", running.portal_request_timeout.count(), fresh.portal_request_timeout.count());
    cmp("portal.retry_max", running.portal_retry_max.count(), fresh.portal_retry_max.count());
    cmp("portal.tfa_timeout", running.portal_tfa_timeout.count(), fresh.portal_tfa_timeout.count());
    for (const auto& key : changed)
        log::warning("configuration reload: this setting needs a restart; keeping the running value", {{"key", key}});
}

// Sends WATCHDOG=1 at half the interval systemd asked for.
iam::ServerStatus server_status_of(const login::RefresherStatus& r, const config::Config& cfg) {
    iam::ServerStatus s;
    s.home_base = cfg.userdb_home_base.string();
    s.uid_min = cfg.uid_min;
    s.uid_max = cfg.uid_max;
    s.account_id = r.account_id;
    s.revision = r.revision;
    s.state_file_current = r.state_file.current;
    s.state_file_error = r.state_file.error;
    for (const auto& c : r.collisions) s.collisions.push_back({c.user_id, c.unix_name, c.reason, c.uid});
    return s;
}

void arm_watchdog(boost::asio::steady_timer& t, std::chrono::microseconds interval) {
    t.expires_after(interval / 2);
    t.async_wait([&t, interval](const boost::system::error_code& ec) {
        if (ec) return;
        sd_notify(0, "WATCHDOG=1");
        arm_watchdog(t, interval);
    });
}


LoginPath::LoginPath(boost::asio::io_context& io, boost::asio::io_context& login_io, const config::Config& cfg,
                     login::LoginStateSource& source, login::LoginService& service)
    : io_(io),
      login_io_(login_io),
      source_(source),
      helper_(lookup_helper(cfg.login_helper_user)),
      terminator_(io, {cfg.uid_min, cfg.uid_max, std::chrono::milliseconds(2000), "/proc"}),
      publisher_(login_io, userdb_config(cfg)),
      refresher_(io, source, service, &publisher_,
                 [this](std::uint32_t uid) { terminator_.terminate_user(uid); }, refresher_settings(cfg, helper_)),
      login_socket_(login_io, cfg.login_socket, service) {
    service.on_logins([this](const std::vector<std::string>& names) { publisher_.logged_in(names); });
    login_socket_.set_access(allowed_uids(helper_), helper_.gid);
}

LoginPath::~LoginPath() = default;

void LoginPath::start(std::function<void()> on_thread_failure) {
    refresher_.refresh();
    refresher_.start_touch_timer();
    login_thread_ = std::make_unique<net::IoThread>(login_io_, "portal-login", [this, on_thread_failure] {
        boost::asio::post(io_, on_thread_failure);
    });
    // A local account named like a member (or with a member's uid) unpublishes the member
    // within a second, not at the next change.
    try {
        local_accounts_.emplace(io_, [this] { refresher_.request_refresh(); });
    } catch (const std::exception& e) {
        log::error("cannot watch /etc/passwd and /etc/group; collisions are checked at the next change only",
                   {{"error", e.what()}});
    }
}

void LoginPath::reload(const config::Config& cfg) {
    helper_ = lookup_helper(cfg.login_helper_user);
    login_socket_.set_access(allowed_uids(helper_), helper_.gid);
    source_.set_settings(view_settings(cfg));
    refresher_.set_settings(refresher_settings(cfg, helper_));
    refresher_.refresh();
}

int serve_until_stopped(boost::asio::io_context& io, const DaemonOptions& opts, config::Config& cfg, LoginPath& path,
                        const std::function<void(const config::Config& fresh)>& reload, const log::Fields& ready,
                        const bool& login_thread_failed) {
    boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
    std::function<void(const boost::system::error_code&, int)> on_signal;
    on_signal = [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
            sd_notify(0, "RELOADING=1");
            try {
                auto fresh = config::load_config(opts.config_path, opts.config_given);
                log_restart_needed(cfg, fresh);
                log::set_level(level_of(fresh));
                cfg.log_level = fresh.log_level;
                cfg.login_account_id = fresh.login_account_id;
                cfg.login_roles = fresh.login_roles;
                cfg.login_fallback_grace = fresh.login_fallback_grace;
                cfg.login_apply_ip_allowlist = fresh.login_apply_ip_allowlist;
                cfg.login_helper_user = fresh.login_helper_user;
                cfg.revoke_terminate_sessions = fresh.revoke_terminate_sessions;
                reload(fresh);
                path.reload(cfg);
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
        path.refresher().save_state_dir_manifest();  // nothing runs after this: io stops
        io.stop();
    };
    signals.async_wait(on_signal);

    boost::asio::steady_timer watchdog(io);
    uint64_t wd_usec = 0;
    if (sd_watchdog_enabled(0, &wd_usec) > 0) arm_watchdog(watchdog, std::chrono::microseconds(wd_usec));

    log::info("ready", ready);
    sd_notify(0, "READY=1");
    io.run();
    if (login_thread_failed) return 1;
    log::info("stopped");
    return 0;
}

}  // namespace portal::modes
