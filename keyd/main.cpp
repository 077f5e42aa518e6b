// portal-keyd: keeps a hosting account's IAM state on this server and serves it.
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "keyd/daemon.h"

int main(int argc, char** argv) {
    portal::DaemonOptions opts;
    bool print_pin = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if ((a == "--config" || a == "-c") && i + 1 < argc) {
            opts.config_path = argv[++i];
            opts.config_given = true;
        } else if (a.rfind("--config=", 0) == 0) {
            opts.config_path = std::string(a.substr(9));
            opts.config_given = true;
        } else if (a == "--print-pin") {
            print_pin = true;
        } else if (a == "--version") {
            std::puts("portal-keyd 0.1.0");
            return 0;
        } else if (a == "--help" || a == "-h") {
            std::puts("usage: portal-keyd [--config FILE] [--print-pin]\n"
                      "  Serves the portal v1 API on a local socket and the login state for sshd/PAM.\n"
                      "  --print-pin: the HTTPS certificate's pin (curl --pinnedpubkey), and exit.\n"
                      "  Default config: /etc/portal-keyd/portal-keyd.toml (see portal-keyd.toml(5)).");
            return 0;
        } else {
            std::fprintf(stderr, "portal-keyd: unknown argument '%.100s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    if (print_pin) return portal::print_tls_pin(opts);
    const int rc = portal::run_daemon(opts);
    if (rc != portal::kRestartDaemon) return rc;
    // A new mode (portalctl join/leave): the same binary, arguments and pid.
    sd_notify(0, "RELOADING=1");
    ::execv("/proc/self/exe", argv);
    std::fprintf(stderr, "portal-keyd: cannot re-execute itself: %s\n", std::strerror(errno));
    return 1;
}
