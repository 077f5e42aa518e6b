// portalctl join, on the daemon's side (authority mode): check the request, register this
// host at the portal (POST /v1/hosts/register, off the main thread, bounded), keep the host
// token (0600) and the [portal] settings in the state directory, then restart as an agent
// (the daemon re-executes itself: portal members are served again from the synced state within
// seconds; local users never depended on it).
#pragma once
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "keyd/config/config.h"
#include "keyd/iam/server_status.h"
#include "keyd/store/store.h"

namespace portal::modes {

// What the composition root does once io.run() returned.
struct Restart {
    bool requested = false;             // re-execute: the mode changed
    bool set_store_aside = false;       // join --discard-local-accounts: portal.db renamed, kept
    bool forget_synced_state = false;   // leave: synced.db (and its unsent login events) removed
};
// Carries out what `r` asks of the files, once the mode's objects are gone.
void apply_restart_files(const config::Config& cfg, const Restart& r);

class PortalJoiner {
public:
    PortalJoiner(boost::asio::io_context& io, const config::Config& cfg, const std::filesystem::path& config_path,
                 store::Store& store, Restart& restart);
    ~PortalJoiner();  // joins a registration in progress
    void join(iam::JoinRequest r, iam::ServerStatusService::Done done);

private:
    void finish(const iam::JoinRequest& r, long status, const std::string& body, const std::string& error,
                const iam::ServerStatusService::Done& done);

    boost::asio::io_context& io_;
    const config::Config& cfg_;
    std::filesystem::path config_path_;
    store::Store& store_;
    Restart& restart_;
    bool busy_ = false;
    std::thread worker_;
};

// portalctl leave (agent mode): forgets the joined portal (settings and host token; the synced
// state goes with Restart::forget_synced_state) so that the daemon restarts as an authority. Throws ApiError when the portal is set in the
// configuration file rather than joined.
void leave_portal(const config::Config& cfg, const std::filesystem::path& config_path);

}  // namespace portal::modes
