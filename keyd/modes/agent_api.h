// Agent mode's local API socket. Who asks is the socket's peer: root, or a member of the
// account this server follows (by uid, from the synced state); anyone else is refused before
// anything is read. This server's own administration (GET /v1/server, leave) is answered
// here (and GET /v1/server/why, from this server's own login path), and so are reads of the account, its members, their keys and the caller's profile:
// from the synced copy (keyd/iam/synced/), through the same router, handlers and guard as an
// authority's, so that they work with the portal down. Every other request goes to the portal
// with the caller's own credential
// (keyd/sync/portal_forwarder.h): `portalctl login`'s session token or an API token in
// PORTAL_TOKEN, never the host token. Without a credential the answer is 401, saying how to
// sign in. The portal's answer (status, body, correlation id) is passed back unchanged.
#pragma once
#include <filesystem>

#include <boost/asio/io_context.hpp>

#include "keyd/api/http_types.h"
#include "keyd/api/router.h"
#include "keyd/config/config.h"
#include "keyd/iam/caller.h"
#include "keyd/iam/synced/synced_iam.h"
#include "keyd/login/login_service.h"
#include "keyd/login/refresher.h"
#include "keyd/modes/join.h"
#include "keyd/sync/event_reporter.h"
#include "keyd/sync/portal_forwarder.h"
#include "keyd/sync/synced_source.h"

namespace portal::modes {

class AgentApi {
public:
    AgentApi(boost::asio::io_context& io, const config::Config& cfg, std::filesystem::path config_path,
             Restart& restart, sync::SyncedLoginSource& source, login::Refresher& refresher,
             sync::EventReporter& events, sync::PortalForwarder& forwarder, const login::LoginService& login);

    // On the main thread (the API server's).
    api::Response handle(const api::Request& req);
    // Root or a member of the followed account: the API server's filter at accept.
    bool known_peer(uid_t uid) const;

private:
    api::Response server_status(const iam::Principal& p) const;
    api::Response leave(const iam::Principal& p);
    api::Response why(const api::Request& req, const iam::Principal& p) const;
    api::Response forward(const api::Request& req, const iam::Principal& p, const std::string& correlation_id);

    boost::asio::io_context& io_;
    const config::Config& cfg_;
    std::filesystem::path config_path_;
    Restart& restart_;
    sync::SyncedLoginSource& source_;
    login::Refresher& refresher_;
    sync::EventReporter& events_;
    sync::PortalForwarder& forwarder_;
    const login::LoginService& login_;
    iam::synced::SyncedIam synced_iam_;
    api::Router reads_;  // the reads answered here
};

}  // namespace portal::modes
