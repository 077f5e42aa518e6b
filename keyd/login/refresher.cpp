#include "keyd/login/refresher.h"

#include <malloc.h>

#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <exception>
#include <set>
#include <utility>

#include "keyd/log/log.h"
#include "keyd/revoke/revocation.h"
#include "shared/ipc/state_file.h"

namespace portal::login {

namespace asio = boost::asio;

struct Refresher::Timers {
    explicit Timers(asio::io_context& io) : touch(io) {}
    asio::steady_timer touch;
};

Refresher::Refresher(asio::io_context& io, LoginStateSource& source, LoginService& service, Publisher* publisher,
                     Terminate terminate, RefresherSettings settings)
    : io_(io), source_(source), service_(service), publisher_(publisher), terminate_(std::move(terminate)),
      settings_(std::move(settings)), timers_(std::make_unique<Timers>(io)) {}

Refresher::~Refresher() = default;

void Refresher::set_settings(RefresherSettings settings) { settings_ = std::move(settings); }

void Refresher::request_refresh() {
    if (pending_) return;
    pending_ = true;
    asio::post(io_, [this] {
        pending_ = false;
        refresh();
    });
}

namespace {
std::string ms_since(std::chrono::steady_clock::time_point& mark) {
    const auto now = std::chrono::steady_clock::now();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - mark).count();
    mark = now;
    return std::to_string(ms);
}
}  // namespace

bool Refresher::refresh() {
    const auto started = std::chrono::steady_clock::now();
    auto mark = started;  // per-phase times for the debug line: where a slow refresh goes
    ipc::LoginState built;
    try {
        built = source_.load();
    } catch (const std::exception& e) {
        log::error("login refresh: cannot build the login state, keeping the last good one", {{"error", e.what()}});
        return false;
    }
    const std::string load_ms = ms_since(mark);

    // Who loses access is judged on the state before publication planning: the plan also
    // unpublishes members the rules refuse (a role that may not log in), and "not published"
    // must not hide that. Collisions are not revocations (see revoke::losing_access).
    const std::vector<revoke::Revocation> revoked = revocations(built);

    PublicationPlan plan;
    if (publisher_) {
        try {
            plan = publisher_->plan(built);
        } catch (const std::exception& e) {
            // Without the collision check a member could shadow a local account: publish nothing new.
            log::error("login refresh: cannot check names against local accounts, keeping the last good state",
                       {{"error", e.what()}});
            return false;
        }
    }
    const std::string plan_ms = ms_since(mark);
    const std::set<std::string> known(warnings_.begin(), warnings_.end());
    for (const auto& w : plan.warnings)
        if (!known.count(w)) log::warning("login refresh: member not published", {{"warning", w}});
    warnings_ = std::move(plan.warnings);
    collisions_ = std::move(plan.collisions);

    auto state = std::make_shared<const ipc::LoginState>(std::move(built));
    if (publisher_) {
        try {
            publisher_->publish(state);
        } catch (const std::exception& e) {
            log::error("login refresh: userdb publication failed", {{"error", e.what()}});
        }
    }
    const std::string publish_ms = ms_since(mark);
    service_.update(state);
    ++generation_;
    write_state_file(*state);
    const std::string state_file_ms = ms_since(mark);

    last_ = state;
    // After the swap: a revoked member's new logins are refused before the old sessions end.
    for (const auto& r : revoked) {
        log::info("revoke: member lost access",
                  {{"user", r.unix_name}, {"uid", std::to_string(r.uid)}, {"reason", r.reason},
                   {"terminate_sessions", settings_.terminate_sessions ? "yes" : "no"}});
        if (settings_.terminate_sessions && terminate_) terminate_(r.uid);
    }
    // Only now: a crash before this point finds the revoked members still recorded as allowed.
    record_allowed(*state);
    ++refreshes_;
    // A refresh of a large account frees tens of MiB of temporaries (the store's rows, the
    // state file's JSON); give them back to the system instead of keeping them as heap.
    ::malloc_trim(0);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    log::debug("login refresh: done", {{"revision", std::to_string(state->revision)},
                                       {"members", std::to_string(state->members.size())},
                                       {"account", state->account_id},
                                       {"ms", std::to_string(ms.count())},
                                       {"load_ms", load_ms},
                                       {"plan_ms", plan_ms},
                                       {"publish_ms", publish_ms},
                                       {"state_file_ms", state_file_ms}});
    return true;
}

std::vector<revoke::Revocation> Refresher::revocations(const ipc::LoginState& built) {
    if (last_) return revoke::losing_access(*last_, built);
    // The first refresh since start: against who was allowed when the daemon last refreshed.
    if (!baseline_read_ && !settings_.allowed_record.empty()) {
        baseline_read_ = true;
        std::string error;
        baseline_ = revoke::read_allowed_record(settings_.allowed_record.string(), error);
        if (!error.empty())
            log::warning("revoke: cannot read who was allowed before the restart; no sessions are ended for changes "
                         "made while the daemon was down",
                         {{"error", error}});
    }
    if (!baseline_) return {};
    auto out = revoke::losing_access(revoke::state_allowing(*baseline_), built);
    if (!out.empty())
        log::info("revoke: members lost access while the daemon was down or before it could publish",
                  {{"members", std::to_string(out.size())}});
    return out;
}

void Refresher::record_allowed(const ipc::LoginState& state) {
    baseline_.reset();
    if (settings_.allowed_record.empty()) return;
    auto allowed = revoke::allowed_members(state);
    if (recorded_ && *recorded_ == allowed) return;  // unchanged: no write on most refreshes
    std::string error;
    if (!revoke::write_allowed_record(settings_.allowed_record.string(), allowed, error)) {
        // The record on disk is older: a restart compares against it, which at worst misses
        // members allowed since then. Retried at every refresh.
        recorded_.reset();
        if (!record_failing_)
            log::error("revoke: cannot record who is allowed; revocations made before a restart may be missed",
                       {{"path", settings_.allowed_record.string()}, {"error", error}});
        record_failing_ = true;
        return;
    }
    if (record_failing_) log::info("revoke: recording who is allowed again", {{"path", settings_.allowed_record.string()}});
    record_failing_ = false;
    recorded_ = std::move(allowed);
}

bool Refresher::write_state_file(const ipc::LoginState& state) {
    ipc::StateFileMode mode;
    if (::geteuid() == 0) {
        mode.owner = 0;
        mode.group = settings_.state_file_group;
        mode.mode = settings_.state_file_group ? 0640 : 0600;
    } else {
        mode.mode = 0600;  // not root: no group to hand it to
    }
    const std::string path = settings_.state_file.string();
    std::string error;
    ipc::FileIdentity written;
    if (ipc::write_state_file(path, state, mode, error, &written)) {
        if (!file_error_.empty()) log::info("login refresh: the state file is written again", {{"path", path}});
        file_generation_ = generation_;
        file_identity_ = written;
        file_revision_ = state.revision;
        file_error_.clear();
        return true;
    }
    // The old file describes an older state: a member revoked since could log in from it.
    // Remove it; without a file the fallback refuses portal members (local users never ask).
    file_generation_.reset();
    std::string removed = "yes";
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) removed = std::string("no: ") + std::strerror(errno);
    if (file_error_.empty())
        log::error("login refresh: cannot write the state file; removed the old one, so the fallback refuses portal "
                   "members until a write succeeds",
                   {{"path", path}, {"error", error}, {"removed", removed}});
    else
        log::debug("login refresh: the state file still cannot be written", {{"error", error}, {"removed", removed}});
    file_error_ = error.empty() ? "write failed" : error;
    return false;
}

RefresherStatus Refresher::status() const {
    RefresherStatus s;
    s.account_id = last_ ? last_->account_id : "";
    s.revision = last_ ? last_->revision : 0;
    s.refreshes = refreshes_;
    s.collisions = collisions_;
    s.warnings = warnings_;
    s.state_file.current = last_ && file_generation_ == generation_;
    s.state_file.revision = file_revision_;
    s.state_file.error = file_error_;
    return s;
}

void Refresher::start_touch_timer() {
    timers_->touch.expires_after(settings_.touch_interval);
    timers_->touch.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        touch();
        start_touch_timer();
    });
}

void Refresher::touch() {
    if (!last_) return;
    if (file_generation_ == generation_) {
        std::string error;
        if (ipc::touch_state_file(settings_.state_file.string(), error, &file_identity_)) return;
        // Removed or replaced behind our back: write it again from the current state.
        log::warning("login refresh: cannot re-stamp the state file, rewriting it", {{"error", error}});
    }
    // No file holding the current state (a write failed): never stamp an older one; write.
    write_state_file(*last_);
}

}  // namespace portal::login
