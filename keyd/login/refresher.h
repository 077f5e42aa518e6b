// One refresh of everything the login path reads, after every change of IAM state:
//   LoginStateSource::load -> Publisher::plan (collisions: published flags, warnings)
//   -> Publisher::publish (userdb drop-ins and provider) -> LoginService::update (the login
//   socket's answers) -> the state file (fallback) -> sessions of members who lost access end.
// Bursts coalesce: request_refresh() posts one refresh to the io_context, so all the writes
// of one API request cause one refresh, right after that request's handler returns.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "keyd/login/login_service.h"
#include "keyd/login/login_view.h"
#include "shared/ipc/login_state.h"

namespace boost::asio {
class io_context;
}

namespace portal::login {

// Userdb publication as the refresher sees it (the daemon wires keyd/userdb/ behind it).
class Publisher {
public:
    virtual ~Publisher() = default;
    // Clears `published` for members whose name or id collides with a local or reserved
    // account; returns human-readable warnings about them.
    virtual std::vector<std::string> plan(ipc::LoginState& state) = 0;
    virtual void publish(const std::shared_ptr<const ipc::LoginState>& state) = 0;
};

struct RefresherSettings {
    std::filesystem::path state_file;
    std::optional<gid_t> state_file_group;  // the helper user's group: 0640 root:group; none: 0600
    bool terminate_sessions = true;
    std::chrono::milliseconds touch_interval{30000};  // re-stamp the state file's mtime
};

class Refresher {
public:
    using Terminate = std::function<void(std::uint32_t uid)>;
    // `publisher` may be null (nothing published beyond the login socket and state file).
    Refresher(boost::asio::io_context& io, LoginStateSource& source, LoginService& service, Publisher* publisher,
              Terminate terminate, RefresherSettings settings);
    ~Refresher();
    Refresher(const Refresher&) = delete;
    Refresher& operator=(const Refresher&) = delete;

    // Refreshes now. False when no new state could be built: the last good one stays
    // everywhere (a failed or partial load never replaces it).
    bool refresh();
    // Coalesced refresh on the io_context (AuthorityService's on_change).
    void request_refresh();
    // Starts re-stamping the state file every touch_interval.
    void start_touch_timer();
    void set_settings(RefresherSettings settings);

    // Current collision warnings (for a status API).
    std::vector<std::string> warnings() const { return warnings_; }
    std::uint64_t refresh_count() const { return refreshes_; }

private:
    struct Timers;
    bool write_state_file(const ipc::LoginState& state);
    void touch();

    boost::asio::io_context& io_;
    LoginStateSource& source_;
    LoginService& service_;
    Publisher* publisher_;
    Terminate terminate_;
    RefresherSettings settings_;
    std::unique_ptr<Timers> timers_;
    bool pending_ = false;
    std::shared_ptr<const ipc::LoginState> last_;  // the last state published (with published flags)
    std::vector<std::string> warnings_;
    std::uint64_t refreshes_ = 0;
};

}  // namespace portal::login
