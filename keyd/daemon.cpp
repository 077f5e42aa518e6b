#include "keyd/daemon.h"

#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <exception>

#include "keyd/config/config.h"
#include "keyd/log/log.h"
#include "keyd/modes/common.h"
#include "keyd/modes/modes.h"
#include "keyd/userdb/userdb.h"

namespace portal {

int print_tls_pin(const DaemonOptions& opts) {
    try {
        const auto cfg = config::load_config(opts.config_path, opts.config_given);
        const net::TlsIdentity id = modes::tls_identity(cfg);
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
    log::init(modes::level_of(cfg));
    ::signal(SIGPIPE, SIG_IGN);
    ::umask(077);
    // Before any NSS call of ours: our own getpwnam() must never ask our userdb provider
    // (it answers on the login thread, but a lookup must not depend on our own answers).
    userdb::ensure_userdb_bypass(modes::userdb_config(cfg));
    try {
        modes::make_dir(cfg.state_directory, 0700);
        modes::make_dir(cfg.runtime_directory, 0755);  // sockets inside must be reachable by members
        modes::Restart restart;
        const int rc = cfg.authority_mode() ? modes::run_authority(opts, cfg, restart) : modes::run_agent(opts, cfg, restart);
        if (rc == 0 && restart.requested) {
            modes::apply_restart_files(cfg, restart);
            return kRestartDaemon;
        }
        return rc;
    } catch (const std::exception& e) {
        log::error("fatal", {{"error", e.what()}});
        return 1;
    }
}

}  // namespace portal
