// The composition root: config -> store -> services -> sockets, plus signals and sd_notify.
#pragma once
#include <filesystem>

namespace portal {

struct DaemonOptions {
    std::filesystem::path config_path = "/etc/portal-keyd/portal-keyd.toml";
    bool config_given = false;  // an explicit --config must exist
};

// run_daemon's answer when the mode changed (portalctl join/leave): main() re-executes the
// binary, same pid, so systemd and the sockets' users see one service that restarted.
inline constexpr int kRestartDaemon = -1;

// Runs until SIGTERM/SIGINT. Returns the process exit code, or kRestartDaemon.
int run_daemon(const DaemonOptions& opts);

// portal-keyd --print-pin: the HTTPS certificate's SHA-256 SPKI pin ("sha256//...", as
// curl --pinnedpubkey takes it); makes the self-signed pair first when there is none yet.
int print_tls_pin(const DaemonOptions& opts);

}  // namespace portal
