// One refresh of everything the login path reads, after every change of IAM state:
//   LoginStateSource::load -> Publisher::plan (collisions: published flags, warnings)
//   -> Publisher::publish (userdb drop-ins and provider) -> LoginService::update (the login
//   socket's answers) -> the state directory (fallback) -> sessions of members who lost access
//   end -> the record of who is allowed (so that the first refresh after a restart finds the
//   members who lost access while the daemon was down or before it could publish).
// The state directory (shared/ipc/state_dir.h) is written in proportion to the change: the
// files of members whose entry changed, removals of members who left, then the header. The
// first write after start reconciles it whole (a leftover of an older revision or another
// account never survives). It never looks fresher than it is: only a header holding the
// current state with every entry written is re-stamped; an entry that cannot be written is
// removed (that member is refused in fallback), and when even that fails the header goes
// (portal members are refused in fallback until a write succeeds; local users are not
// concerned).
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
#include <unordered_set>
#include <vector>

#include "keyd/login/login_service.h"
#include "keyd/login/login_view.h"
#include "keyd/revoke/allowed_record_file.h"
#include "keyd/revoke/revocation.h"
#include "shared/ipc/login_state.h"
#include "shared/ipc/state_file.h"

namespace boost::asio {
class io_context;
}

namespace portal::login {

// A member who may log in but is not published on this machine: their name or uid is a local
// account's (or group's), reserved, invalid, or another member's.
struct Collision {
    std::string unix_name;
    std::uint32_t uid = 0;
    std::string user_id;
    std::string reason;  // e.g. "name exists locally"
    bool operator==(const Collision&) const = default;
};

struct PublicationPlan {
    std::vector<std::string> warnings;  // human-readable, one per problem (members and groups)
    std::vector<Collision> collisions;  // the members among them
};

// Userdb publication as the refresher sees it (the daemon wires keyd/userdb/ behind it).
class Publisher {
public:
    virtual ~Publisher() = default;
    // Clears `published` for members whose name or id collides with a local or reserved
    // account; says which and why.
    virtual PublicationPlan plan(ipc::LoginState& state) = 0;
    // `changed`: names of members that differ from the last state published (or are new);
    // null when not known (the first publication). Members who left are not in it.
    virtual void publish(const std::shared_ptr<const ipc::LoginState>& state,
                         const std::unordered_set<std::string>* changed) = 0;
    // Members who just opened a session on this machine (main thread, batched).
    virtual void logged_in(const std::vector<std::string>& unix_names) { (void)unix_names; }
};

struct RefresherSettings {
    std::filesystem::path state_dir;
    // The helper user's group: the directory 0750 and its files 0640, root:group; none: 0700/0600.
    std::optional<gid_t> state_dir_group;
    // The single state file of older versions, removed at the first write (empty: none).
    std::filesystem::path legacy_state_file;
    bool terminate_sessions = true;
    std::chrono::milliseconds touch_interval{30000};  // re-stamp the state header's mtime
    // Who was allowed at the last refresh (0600, in the state directory). Empty: none kept,
    // and revocations do not survive a restart.
    std::filesystem::path allowed_record;
};

// The fallback (state directory) as the refresher last left it.
struct StateFileStatus {
    bool current = false;       // it holds the state the login socket serves, every entry written
    std::uint64_t revision = 0; // revision of the last state written (0: none yet)
    std::string error;          // why the last write failed ("" when it did not)
};

// What a status API shows about the login path.
struct RefresherStatus {
    std::string account_id;      // whose members log in here ("" before the first refresh)
    std::uint64_t revision = 0;  // of the state served (0 before the first refresh)
    std::uint64_t refreshes = 0;
    std::vector<Collision> collisions;
    std::vector<std::string> warnings;
    StateFileStatus state_file;
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
    // Coalesced refresh on the io_context (the authority services' on_change).
    void request_refresh();
    // Starts re-stamping the state header every touch_interval.
    void start_touch_timer();
    void set_settings(RefresherSettings settings);

    // Current collision warnings (for a status API).
    std::vector<std::string> warnings() const { return warnings_; }
    const std::vector<Collision>& collisions() const { return collisions_; }
    std::uint64_t refresh_count() const { return refreshes_; }
    RefresherStatus status() const;

    // Re-stamps the state header if the directory holds the current state, else writes it
    // (the touch timer's work; public for tests).
    void touch();
    // At a clean stop: leaves a manifest of the state directory (state_dir_manifest.h) when
    // it holds exactly the state served, so that the next start writes only what changed
    // meanwhile instead of reading every entry back. True when one was written.
    bool save_state_dir_manifest();

private:
    struct Timers;
    bool write_state_dir(const std::shared_ptr<const ipc::LoginState>& state,
                         const std::unordered_set<std::string>* changed);
    void state_dir_failed(const std::string& error, const std::string& header_removed);
    std::vector<revoke::Revocation> revocations(const ipc::LoginState& built,
                                                const std::unordered_set<std::string>* touched);
    // `changed`: the only members whose verdict may differ from the record's (null: judge
    // everyone, as after start-up or a change of the rules).
    void record_allowed(const ipc::LoginState& state, const std::unordered_set<std::string>* changed);
    void trim_heap_soon(bool now);

    boost::asio::io_context& io_;
    LoginStateSource& source_;
    LoginService& service_;
    Publisher* publisher_;
    Terminate terminate_;
    RefresherSettings settings_;
    std::unique_ptr<Timers> timers_;
    bool pending_ = false;
    std::shared_ptr<const ipc::LoginState> last_;  // the last state published (with published flags)
    // Members the source touched since last_ (take_changed), gathered until a refresh
    // completes; unknown after a full build, an account-wide change or a failed load.
    std::unordered_set<std::string> pending_touched_;
    bool touched_unknown_ = true;
    std::vector<std::string> warnings_;
    std::vector<Collision> collisions_;
    std::uint64_t refreshes_ = 0;

    // The state directory: which refresh's state it holds (none after a failed write), and
    // the header we wrote (a header put there by anything else is never re-stamped).
    std::uint64_t generation_ = 0;  // of last_ (and of the refresh writing it)
    std::optional<std::uint64_t> file_generation_;
    ipc::FileIdentity file_identity_;
    std::uint64_t file_revision_ = 0;
    std::string file_error_;  // non-empty while writes fail (logged once per failing stretch)
    // The state whose entries the directory holds, to write only what changed; null when
    // unknown (start-up, after a failure): the next write reconciles the whole directory.
    std::shared_ptr<const ipc::LoginState> on_disk_;
    bool legacy_removed_ = false;

    // The allowed record: read once, compared against at the first refresh after start.
    bool baseline_read_ = false;
    std::optional<std::vector<revoke::AllowedMember>> baseline_;
    std::optional<revoke::AllowedRecordFile> record_;  // none when settings_.allowed_record is empty
    bool record_failing_ = false;
};

}  // namespace portal::login
