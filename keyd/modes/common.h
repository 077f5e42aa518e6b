// What both modes' composition roots (authority.cpp, agent.cpp) share: settings read from
// the configuration, and the login path (LoginPath): everything sshd, PAM and nss-systemd
// read, fed by a LoginStateSource that knows nothing of the mode.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "keyd/config/config.h"
#include "keyd/daemon.h"
#include "keyd/iam/server_status.h"
#include "keyd/log/log.h"
#include "keyd/login/login_service.h"
#include "keyd/login/login_socket.h"
#include "keyd/login/login_view.h"
#include "keyd/login/refresher.h"
#include "keyd/login/userdb_publisher.h"
#include "keyd/net/io_thread.h"
#include "keyd/revoke/session_terminator.h"
#include "keyd/userdb/local_accounts_watch.h"
#include "keyd/userdb/userdb.h"

namespace portal::modes {

void make_dir(const std::filesystem::path& p, mode_t mode);
log::Level level_of(const config::Config& c);
login::ViewSettings view_settings(const config::Config& c);
userdb::UserdbConfig userdb_config(const config::Config& c);
std::string host_name();
// Settings that only a restart applies: logged instead of half-applied.
void log_restart_needed(const config::Config& running, const config::Config& fresh);
// What GET /v1/server reports of the login path (both modes).
iam::ServerStatus server_status_of(const login::RefresherStatus& r, const config::Config& cfg);
// Sends WATCHDOG=1 at half the interval systemd asked for.
void arm_watchdog(boost::asio::steady_timer& t, std::chrono::microseconds interval);

// The keys helper's account (sshd's AuthorizedKeysCommandUser), looked up at start and reload.
struct HelperUser {
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
};
HelperUser lookup_helper(const std::string& name);

// The login path: source -> refresher -> userdb publisher, login socket (its own thread),
// state directory, revocation; and the watch on /etc/passwd that unpublishes a member whose
// name a local account takes. Both io_contexts must outlive it.
class LoginPath {
public:
    LoginPath(boost::asio::io_context& io, boost::asio::io_context& login_io, const config::Config& cfg,
              login::LoginStateSource& source, login::LoginService& service);
    ~LoginPath();

    // The first state in place (before READY: sshd may ask right after), then the login
    // thread. `on_thread_failure` runs on the main thread if the login thread dies.
    void start(std::function<void()> on_thread_failure);
    // The login rules of a reloaded configuration (account, roles, grace, helper, revocation).
    void reload(const config::Config& cfg);
    login::Refresher& refresher() { return refresher_; }
    void request_refresh() { refresher_.request_refresh(); }

private:
    boost::asio::io_context& io_;
    boost::asio::io_context& login_io_;
    login::LoginStateSource& source_;
    HelperUser helper_;
    revoke::SessionTerminator terminator_;
    login::UserdbPublisher publisher_;
    login::Refresher refresher_;
    login::LoginSocket login_socket_;
    std::optional<userdb::LocalAccountsWatch> local_accounts_;
    // Declared last: destroyed first, it stops login_io and joins the thread before the
    // socket and the provider go.
    std::unique_ptr<net::IoThread> login_thread_;
};

// Signals (SIGHUP: `reload` with the fresh configuration after the login path's own reload;
// SIGTERM/SIGINT: stop), the watchdog, READY=1, then io.run(). Returns the exit code.
int serve_until_stopped(boost::asio::io_context& io, const DaemonOptions& opts, config::Config& cfg, LoginPath& path,
                        const std::function<void(const config::Config& fresh)>& reload, const log::Fields& ready,
                        const bool& login_thread_failed);

}  // namespace portal::modes
