#include "keyd/login/refresher.h"
#include "keyd/login/state_delta.h"
#include "keyd/login/state_dir_manifest.h"

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
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "keyd/log/log.h"
#include "keyd/revoke/revocation.h"
#include "shared/ipc/state_dir.h"

namespace portal::login {

namespace asio = boost::asio;

struct Refresher::Timers {
    explicit Timers(asio::io_context& io) : touch(io), trim(io) {}
    asio::steady_timer touch;
    asio::steady_timer trim;
    bool trim_pending = false;
    std::chrono::steady_clock::time_point trim_first;  // the first refresh since the last trim
};

Refresher::Refresher(asio::io_context& io, LoginStateSource& source, LoginService& service, Publisher* publisher,
                     Terminate terminate, RefresherSettings settings)
    : io_(io), source_(source), service_(service), publisher_(publisher), terminate_(std::move(terminate)),
      settings_(std::move(settings)), timers_(std::make_unique<Timers>(io)) {
    if (!settings_.allowed_record.empty()) record_.emplace(settings_.allowed_record);
}

Refresher::~Refresher() = default;

void Refresher::set_settings(RefresherSettings settings) {
    if (settings.allowed_record != settings_.allowed_record) {
        record_.reset();
        if (!settings.allowed_record.empty()) record_.emplace(settings.allowed_record);
    }
    settings_ = std::move(settings);
}

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
    const bool first_refresh = !last_;
    ipc::LoginState built;
    try {
        built = source_.load();
    } catch (const std::exception& e) {
        touched_unknown_ = true;  // the view may have moved on: compare everything next time
        log::error("login refresh: cannot build the login state, keeping the last good one", {{"error", e.what()}});
        return false;
    }
    // Who may have changed since the last state published (kept until a refresh completes).
    if (auto touched = source_.take_changed()) pending_touched_.merge(*touched);
    else touched_unknown_ = true;
    const std::unordered_set<std::string>* touched = touched_unknown_ ? nullptr : &pending_touched_;
    const std::string load_ms = ms_since(mark);

    // Who loses access is judged on the state before publication planning: the plan also
    // unpublishes members the rules refuse (a role that may not log in), and "not published"
    // must not hide that. Collisions are not revocations (see revoke::losing_access).
    const std::vector<revoke::Revocation> revoked = revocations(built, touched);

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
    // Who differs from the last state published: the publishers render only them, the state
    // directory writes only them.
    std::optional<std::unordered_set<std::string>> changed;
    if (last_) changed = differing_members(*last_, *state, touched);
    if (publisher_) {
        try {
            publisher_->publish(state, changed ? &*changed : nullptr);
        } catch (const std::exception& e) {
            log::error("login refresh: userdb publication failed", {{"error", e.what()}});
        }
    }
    const std::string publish_ms = ms_since(mark);
    service_.update(state);
    ++generation_;
    write_state_dir(state, changed ? &*changed : nullptr);
    const std::string state_file_ms = ms_since(mark);

    // Who is allowed changes only among the members that differ, while the rules are the same
    // (Enforce 2FA or the login roles decide for everyone).
    const bool same_rules =
        last_ && last_->enforce_2fa == state->enforce_2fa && last_->login_roles == state->login_roles;
    last_ = state;
    pending_touched_.clear();
    touched_unknown_ = false;
    // After the swap: a revoked member's new logins are refused before the old sessions end.
    for (const auto& r : revoked) {
        log::info("revoke: member lost access",
                  {{"user", r.unix_name}, {"uid", std::to_string(r.uid)}, {"reason", r.reason},
                   {"terminate_sessions", settings_.terminate_sessions ? "yes" : "no"}});
        if (settings_.terminate_sessions && terminate_) terminate_(r.uid);
    }
    // Only now: a crash before this point finds the revoked members still recorded as allowed.
    record_allowed(*state, same_rules && changed ? &*changed : nullptr);
    ++refreshes_;
    // A full build of a large account frees tens of MiB of temporaries (the store's rows, the
    // state directory's JSON): give them back to the system instead of keeping them as heap.
    // Not after every change: a trim walks the whole heap (a few ms at 10,000 members, more
    // than the change itself); see trim_heap_soon.
    trim_heap_soon(first_refresh);
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

std::vector<revoke::Revocation> Refresher::revocations(const ipc::LoginState& built,
                                                      const std::unordered_set<std::string>* touched) {
    if (last_ && touched) {
        // Only a member who changed can lose access (account-wide changes come as "unknown").
        return revoke::losing_access(only_named(*last_, MemberLookup(*last_), *touched),
                                     only_named(built, MemberLookup(built), *touched));
    }
    if (last_) return revoke::losing_access(*last_, built);
    // The first refresh since start: against who was allowed when the daemon last refreshed.
    if (!baseline_read_ && !settings_.allowed_record.empty()) {
        baseline_read_ = true;
        std::string error;
        if (record_) baseline_ = record_->read(error);
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

void Refresher::record_allowed(const ipc::LoginState& state, const std::unordered_set<std::string>* changed) {
    baseline_.reset();
    if (!record_) return;
    std::string error;
    bool ok = true;
    if (changed && record_->held()) {
        // A journal line for each changed member whose verdict differs from the record's.
        const MemberLookup lookup(state);
        const auto now_allowed = revoke::allowed_members(only_named(state, lookup, *changed));  // by name
        std::vector<std::string> names(changed->begin(), changed->end());
        std::sort(names.begin(), names.end());
        std::vector<revoke::AllowedChange> changes;
        for (const auto& name : names) {
            const auto it = std::lower_bound(now_allowed.begin(), now_allowed.end(), name,
                                             [](const revoke::AllowedMember& m, const std::string& n) { return m.unix_name < n; });
            const revoke::AllowedMember* now = it != now_allowed.end() && it->unix_name == name ? &*it : nullptr;
            const revoke::AllowedMember* was = record_->find(name);
            if (now ? (was && *was == *now) : !was) continue;
            changes.push_back({name, now ? std::optional<revoke::AllowedMember>(*now) : std::nullopt});
        }
        if (changes.empty()) return;  // most refreshes: nobody's verdict changed
        ok = record_->apply(changes, error);
    } else {
        auto allowed = revoke::allowed_members(state);
        std::stable_sort(allowed.begin(), allowed.end(),
                         [](const auto& a, const auto& b) { return a.unix_name < b.unix_name; });
        if (record_->held() && record_->members() == allowed) return;
        // A restart that finds who is allowed as recorded keeps the files (no 10,000-entry rewrite).
        if (!record_->held() && record_->adopt(allowed)) return;
        ok = record_->replace(std::move(allowed), error);
    }
    if (!ok) {
        // The record on disk is older: a restart compares against it, which at worst misses
        // members allowed since then. The next refresh writes it whole again.
        if (!record_failing_)
            log::error("revoke: cannot record who is allowed; revocations made before a restart may be missed",
                       {{"path", settings_.allowed_record.string()}, {"error", error}});
        record_failing_ = true;
        return;
    }
    if (record_failing_) log::info("revoke: recording who is allowed again", {{"path", settings_.allowed_record.string()}});
    record_failing_ = false;
}

namespace {

struct StateDirModes {
    ipc::StateFileMode dir, file;
};

StateDirModes state_dir_modes(const std::optional<gid_t>& group) {
    StateDirModes m;
    if (::geteuid() == 0) {
        m.file.owner = m.dir.owner = 0;
        m.file.group = m.dir.group = group;
        m.file.mode = group ? 0640 : 0600;
        m.dir.mode = group ? 0750 : 0700;
    } else {
        m.file.mode = 0600;  // not root: no group to hand it to
        m.dir.mode = 0700;
    }
    return m;
}

using MemberIndex = std::unordered_map<std::string_view, const ipc::LoginMember*>;

MemberIndex index_members(const ipc::LoginState& state) {
    MemberIndex index;
    index.reserve(state.members.size());
    for (const auto& m : state.members)
        if (ipc::is_member_file_name(m.unix_name)) index.emplace(m.unix_name, &m);
    return index;
}

// What a write must do to bring the directory to `state`.
struct StateDirChanges {
    std::vector<const ipc::LoginMember*> write;
    std::vector<std::string> remove;
};

// From the state the entries hold (the last write): only what differs.
StateDirChanges changes_since(const ipc::LoginState& on_disk, const MemberIndex& wanted) {
    StateDirChanges c;
    const MemberIndex had = index_members(on_disk);
    for (const auto& [name, member] : wanted) {
        const auto it = had.find(name);
        if (it == had.end() || !(*it->second == *member)) c.write.push_back(member);
    }
    for (const auto& [name, member] : had)
        if (!wanted.count(name)) c.remove.emplace_back(name);
    return c;
}

// From the names that differ between the state the entries hold and `now`.
StateDirChanges changes_of(const ipc::LoginState& on_disk, const ipc::LoginState& now,
                           const std::unordered_set<std::string>& changed) {
    StateDirChanges c;
    const MemberLookup had(on_disk), has(now);
    for (const auto& name : changed) {
        if (!ipc::is_member_file_name(name)) continue;
        if (const auto* m = has.find(name)) c.write.push_back(m);
        else if (had.find(name)) c.remove.push_back(name);
    }
    return c;
}

// From the manifest a clean stop left (state_dir_manifest.h): the entries it lists are in the
// directory, so only the members whose digest differs are written, without reading a file.
// nullopt: no manifest, or one that does not describe the directory (then reconcile).
std::optional<StateDirChanges> from_manifest(const std::string& dir, const ipc::LoginState& state,
                                             const MemberIndex& wanted, bool& left_behind) {
    std::string error;
    const auto manifest = take_manifest(dir, error, left_behind);
    if (left_behind) return std::nullopt;
    if (!manifest) {
        if (!error.empty()) log::warning("login refresh: ignoring the state directory's manifest", {{"error", error}});
        return std::nullopt;
    }
    if (manifest->account_id != state.account_id || manifest->revision > state.revision) return std::nullopt;
    // Exactly its entries (and the header) in the directory: a file added or removed while
    // the daemon was stopped means reading everything.
    auto names = ipc::list_state_dir(dir, error);
    if (!names) return std::nullopt;
    std::size_t entries = 0;
    for (const auto& name : *names) {
        if (name == ipc::kStateHeaderName) continue;
        if (!manifest->entries.count(name)) return std::nullopt;
        ++entries;
    }
    if (entries != manifest->entries.size()) return std::nullopt;
    StateDirChanges c;
    for (const auto& [name, member] : wanted) {
        const auto it = manifest->entries.find(std::string(name));
        if (it == manifest->entries.end() || it->second != member_digest(*member)) c.write.push_back(member);
    }
    for (const auto& [name, digest] : manifest->entries)
        if (!wanted.count(name)) c.remove.push_back(name);
    return c;
}

// From what the directory holds (start-up, or after a failure): every file read back. An
// entry is kept only when it is exactly the member's, for this account, at a revision not
// after this one; anything else (members who left, other accounts' or layouts' entries,
// temp files of an interrupted write) goes.
std::optional<StateDirChanges> reconcile(const std::string& dir, const ipc::LoginState& state,
                                         const MemberIndex& wanted, std::string& error) {
    auto names = ipc::list_state_dir(dir, error);
    if (!names) return std::nullopt;
    StateDirChanges c;
    std::unordered_set<std::string_view> current;
    for (const auto& name : *names) {
        if (name == ipc::kStateHeaderName) continue;
        const auto it = wanted.find(name);
        if (it == wanted.end()) {
            c.remove.push_back(name);
            continue;
        }
        current.insert(it->first);
        std::string read_error;
        const auto entry = ipc::read_member_entry(dir, name, read_error);
        if (!entry || entry->account_id != state.account_id || entry->revision > state.revision ||
            !(entry->member == *it->second))
            c.write.push_back(it->second);
    }
    for (const auto& [name, member] : wanted)
        if (!current.count(name)) c.write.push_back(member);
    return c;
}

}  // namespace

bool Refresher::write_state_dir(const std::shared_ptr<const ipc::LoginState>& written_state,
                                const std::unordered_set<std::string>* changed) {
    const ipc::LoginState& state = *written_state;
    const StateDirModes modes = state_dir_modes(settings_.state_dir_group);
    const std::string dir = settings_.state_dir.string();
    if (!legacy_removed_ && !settings_.legacy_state_file.empty()) {
        // An upgrade from the single file: nothing reads it any more, and left behind it would
        // only go stale.
        if (::unlink(settings_.legacy_state_file.c_str()) == 0)
            log::info("login refresh: removed the state file of an older version",
                      {{"path", settings_.legacy_state_file.string()}});
        legacy_removed_ = true;
    }

    std::string error;
    if (!ipc::prepare_state_dir(dir, modes.dir, error)) {
        state_dir_failed(error, "no directory");
        return false;
    }
    std::optional<StateDirChanges> changes;
    if (changed && on_disk_ && on_disk_ == last_ && on_disk_->account_id == state.account_id) {
        // The directory holds the last state published: only the members that differ from it.
        changes = changes_of(*on_disk_, state, *changed);
    } else {
        const MemberIndex wanted = index_members(state);
        if (on_disk_ && on_disk_->account_id == state.account_id) changes = changes_since(*on_disk_, wanted);
        else {
            bool manifest_left = false;
            changes = from_manifest(dir, state, wanted, manifest_left);
            if (manifest_left) {
                // A manifest we cannot remove would outlive the changes we make: write nothing,
                // and without the header the fallback refuses portal members meanwhile.
                std::string header_error;
                state_dir_failed("cannot remove " + dir + "/" + kManifestName,
                                 ipc::remove_state_header(dir, header_error) ? "yes" : "no: " + header_error);
                return false;
            }
            if (!changes) changes = reconcile(dir, state, wanted, error);
        }
    }
    on_disk_.reset();  // until this write completes
    if (!changes) {
        std::string header_error;
        state_dir_failed(error, ipc::remove_state_header(dir, header_error) ? "yes" : "no: " + header_error);
        return false;
    }

    // Entries first, the header last: a reader meanwhile sees, for each member, the entry of
    // the previous state or of this one (never a removed member who is still a member).
    std::string first_error;     // the first entry that could not be written or removed
    bool header_unsafe = false;  // an entry left behind that may be wrong: the header must go
    for (const auto& name : changes->remove) {
        std::string remove_error;
        if (ipc::remove_member_entry(dir, name, remove_error)) continue;
        // Names no member can have are never looked up: harmless where they are.
        if (!ipc::is_member_file_name(name)) {
            log::debug("login refresh: cannot remove a stray file from the state directory", {{"error", remove_error}});
            continue;
        }
        if (first_error.empty()) first_error = remove_error;
        header_unsafe = true;
    }
    for (const ipc::LoginMember* m : changes->write) {
        std::string write_error;
        if (ipc::write_member_entry(dir, ipc::MemberEntry{state.account_id, state.revision, *m}, modes.file,
                                    write_error))
            continue;
        if (first_error.empty()) first_error = write_error;
        // The old entry describes an older state (a member revoked since could log in from
        // it): without it the member is refused in fallback until a write succeeds.
        std::string remove_error;
        if (!ipc::remove_member_entry(dir, m->unix_name, remove_error)) header_unsafe = true;
    }

    std::string header_error;
    if (header_unsafe) {
        state_dir_failed(first_error, ipc::remove_state_header(dir, header_error) ? "yes" : "no: " + header_error);
        return false;
    }
    ipc::FileIdentity written;
    if (!ipc::write_state_header(dir, state, modes.file, header_error, &written)) {
        std::string remove_error;
        state_dir_failed(header_error, ipc::remove_state_header(dir, remove_error) ? "yes" : "no: " + remove_error);
        return false;
    }
    if (!first_error.empty()) {
        // The header is current for every entry present; the missing ones are refused. Not
        // current: the touch timer retries with a whole reconciliation.
        state_dir_failed(first_error, "no (the entries that could not be written were removed)");
        return false;
    }
    if (!file_error_.empty()) log::info("login refresh: the state directory is written again", {{"path", dir}});
    file_generation_ = generation_;
    file_identity_ = written;
    file_revision_ = state.revision;
    file_error_.clear();
    on_disk_ = written_state;
    return true;
}

bool Refresher::save_state_dir_manifest() {
    if (!last_ || file_generation_ != generation_ || on_disk_ != last_) return false;  // not exactly last_
    std::string error;
    if (!write_manifest(settings_.state_dir.string(), *last_, error)) {
        log::warning("login refresh: cannot leave a manifest of the state directory; the next start reads it whole",
                     {{"error", error}});
        return false;
    }
    return true;
}

void Refresher::state_dir_failed(const std::string& error, const std::string& header_removed) {
    file_generation_.reset();
    on_disk_.reset();
    const std::string dir = settings_.state_dir.string();
    if (file_error_.empty())
        log::error("login refresh: cannot write the state directory; the fallback refuses the portal members it "
                   "could not write (all of them when the header was removed) until a write succeeds",
                   {{"path", dir}, {"error", error}, {"header_removed", header_removed}});
    else
        log::debug("login refresh: the state directory still cannot be written",
                   {{"error", error}, {"header_removed", header_removed}});
    file_error_ = error.empty() ? "write failed" : error;
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

void Refresher::trim_heap_soon(bool now) {
    if (now) {
        ::malloc_trim(0);
        return;
    }
    // Once refreshes pause for 2 s: during a run of changes each refresh reuses the heap the
    // last one freed, whereas a trim in between hands it back and the next refresh pays for
    // faulting it in again (at 10,000 members, a third more CPU for that change). At the
    // latest 30 s after the first refresh that asked, so that a steady trickle trims too.
    const auto t = std::chrono::steady_clock::now();
    if (!timers_->trim_pending) timers_->trim_first = t;
    timers_->trim_pending = true;
    timers_->trim.expires_at(std::min(t + std::chrono::seconds(2), timers_->trim_first + std::chrono::seconds(30)));
    timers_->trim.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;  // re-armed by a later refresh, or cancelled: the refresher may be gone
        timers_->trim_pending = false;
        ::malloc_trim(0);
    });
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
        if (ipc::touch_state_header(settings_.state_dir.string(), error, &file_identity_)) return;
        // Removed or replaced behind our back, entries perhaps too: reconcile the whole directory.
        log::warning("login refresh: cannot re-stamp the state header, rewriting the state directory",
                     {{"error", error}});
        on_disk_.reset();
    }
    // Not holding the current state (a write failed): never stamp an older one; write.
    write_state_dir(last_, nullptr);
}

}  // namespace portal::login
