// Agent mode's composition root: the portal at [portal] url is followed (keyd/sync/), its
// login state kept in <state_directory>/synced.db and served through the same login path as
// the authority's. The local API socket (agent_api.h) answers this server's own
// administration and carries everything else to the portal with the caller's credential.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "keyd/api/http_server.h"
#include "keyd/modes/agent_api.h"
#include "keyd/modes/common.h"
#include "keyd/modes/modes.h"
#include "keyd/sync/event_reporter.h"
#include "keyd/sync/follower.h"
#include "keyd/sync/portal_forwarder.h"
#include "keyd/sync/remote_code_verifier.h"
#include "keyd/sync/synced_source.h"
#include "keyd/sync/synced_store.h"

namespace portal::modes {
namespace {

namespace asio = boost::asio;

// The host token: a root-owned regular file nobody else may read, holding pk_host_...
// Missing or unfit: "" (the portal then refuses us, and the status says why).
std::string read_host_token(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        log::error("agent: cannot read the host token; enrol this host (portalctl join)",
                   {{"path", path.string()}, {"error", std::strerror(errno)}});
        return "";
    }
    struct stat st {};
    char buf[512];
    ssize_t n = -1;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 077) == 0)
        n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n < 0) {
        log::error("agent: the host token file must be a regular file of ours, mode 0600", {{"path", path.string()}});
        return "";
    }
    std::string token(buf, static_cast<std::size_t>(n));
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    const bool ok = token.rfind("pk_host_", 0) == 0 && token.size() < 256 &&
                    token.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
                        std::string::npos;
    if (!ok) {
        log::error("agent: the host token file does not hold a host token (pk_host_...)", {{"path", path.string()}});
        return "";
    }
    return token;
}

void arm_tick(asio::steady_timer& t, sync::SyncedLoginSource& source) {
    t.expires_after(std::chrono::seconds(15));
    t.async_wait([&t, &source](const boost::system::error_code& ec) {
        if (ec) return;
        source.tick();
        arm_tick(t, source);
    });
}

}  // namespace

int run_agent(const DaemonOptions& opts, config::Config& cfg, Restart& restart) {
    auto clock = [] { return std::chrono::system_clock::now(); };
    if (!cfg.login_account_id.empty())
        log::warning("agent: login.account_id is ignored; this server follows its portal's account for its host token",
                     {{"account_id", cfg.login_account_id}});
    sync::PortalEndpoint endpoint{cfg.portal_url, cfg.portal_pin, cfg.portal_ca_file.string(),
                                  read_host_token(cfg.portal_token_file)};
    auto synced = sync::SyncedStore::open(cfg.state_directory / "synced.db");

    asio::io_context io(1);
    asio::io_context login_io(1);

    LoginPath* path = nullptr;  // set below; the source asks it to refresh after each change
    sync::SyncedLoginSource source(synced, cfg.portal_url, view_settings(cfg), cfg.portal_offline_grace, clock,
                                   [&path] {
                                       if (path) path->request_refresh();
                                   });
    sync::RemoteCodeVerifier codes(endpoint, host_name(), cfg.portal_tfa_timeout);
    sync::EventReporterSettings es;
    es.endpoint = endpoint;
    es.retry_max = cfg.portal_retry_max;
    es.request_timeout = cfg.portal_request_timeout;
    sync::EventReporter events(io, synced, es);
    // last_login is the portal's to keep: it learns of sessions from the login events.
    login::LoginService login_service(codes, {}, host_name(), clock,
                                      [&io](std::function<void()> task) { asio::post(io, std::move(task)); });
    login_service.on_events([&events](std::vector<LoginEvent> batch) { events.add(batch); });
    // Code checks still in flight at exit must not call into login_service once it is gone.
    struct StopCodesFirst {
        sync::RemoteCodeVerifier& codes;
        ~StopCodesFirst() { codes.stop(); }
    } stop_codes_first{codes};
    LoginPath login_path(io, login_io, cfg, source, login_service);
    path = &login_path;

    bool login_thread_failed = false;
    login_path.start([&io, &login_thread_failed] {
        login_thread_failed = true;
        io.stop();
    });

    sync::FollowerSettings fs;
    fs.endpoint = endpoint;
    fs.wait = cfg.portal_poll_wait;
    fs.retry_max = cfg.portal_retry_max;
    fs.request_timeout = cfg.portal_request_timeout;
    sync::Follower follower(io, source, fs);
    follower.start();
    events.start();
    asio::steady_timer tick(io);
    arm_tick(tick, source);

    sync::PortalForwarder forwarder(endpoint, cfg.portal_request_timeout);
    AgentApi agent_api(io, cfg, opts.config_path, restart, source, login_path.refresher(), events, forwarder,
                       login_service);
    api::ServerLimits limits;
    limits.max_body_bytes = cfg.api_max_body_bytes;
    limits.request_timeout = cfg.api_request_timeout;
    limits.max_connections_per_uid = cfg.api_max_connections_per_uid;
    api::HttpServer api_server(io, cfg.api_socket, 0666, limits,
                               [&agent_api](const api::Request& r) { return agent_api.handle(r); },
                               [&agent_api](uid_t uid) { return agent_api.known_peer(uid); });

    return serve_until_stopped(
        io, opts, cfg, login_path,
        [&](const config::Config& fresh) { source.set_offline_grace(fresh.portal_offline_grace); },
        {{"mode", "agent"},
         {"portal", cfg.portal_url},
         {"api_socket", cfg.api_socket.string()},
         {"login_socket", cfg.login_socket.string()},
         {"state_dir", cfg.login_state_dir.string()},
         {"revision", std::to_string(source.revision())}},
        login_thread_failed);
}

}  // namespace portal::modes
