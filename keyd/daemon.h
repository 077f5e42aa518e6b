// The composition root: config -> store -> services -> sockets, plus signals and sd_notify.
#pragma once
#include <filesystem>

namespace portal {

struct DaemonOptions {
    std::filesystem::path config_path = "/etc/portal-keyd/portal-keyd.toml";
    bool config_given = false;  // an explicit --config must exist
};

// Runs until SIGTERM/SIGINT. Returns the process exit code.
int run_daemon(const DaemonOptions& opts);

}  // namespace portal
