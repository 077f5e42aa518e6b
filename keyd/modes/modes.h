// One composition root per mode (DESIGN.md): each wires its own state source and API over
// the shared login path (common.h). daemon.cpp reads the configuration and picks one.
#pragma once
#include "keyd/config/config.h"
#include "keyd/daemon.h"
#include "keyd/modes/join.h"
#include "keyd/net/tls_identity.h"

namespace portal::modes {

// The embedded store is the portal: the v1 API on the socket (and over HTTPS when
// configured), the IAM feed for agents.
int run_authority(const DaemonOptions& opts, config::Config& cfg, Restart& restart);
// A remote portal ([portal] url) is followed: its login state synced, kept and served.
int run_agent(const DaemonOptions& opts, config::Config& cfg, Restart& restart);

// The HTTPS listener's certificate: the configured files, else the self-signed pair (made
// now if this is the first start with HTTPS).
net::TlsIdentity tls_identity(const config::Config& cfg);

}  // namespace portal::modes
