#include "keyd/sync/synced_source.h"

#include <utility>

#include "keyd/log/log.h"

namespace portal::sync {
namespace {

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

SyncedLoginSource::SyncedLoginSource(SyncedStore& store, std::string portal_url, login::ViewSettings settings,
                                     std::chrono::seconds offline_grace, Clock clock, std::function<void()> on_change)
    : store_(store), settings_(std::move(settings)), offline_grace_(offline_grace), clock_(std::move(clock)),
      on_change_(std::move(on_change)) {
    std::string error;
    SyncFacts held;
    auto last = store_.load(held, error);
    if (last && held.portal_url != portal_url) {
        log::warning("sync: the kept state belongs to another portal; starting empty",
                     {{"kept", held.portal_url}, {"portal", portal_url}});
        store_.clear();
        last.reset();
        held = SyncFacts{};
    } else if (!last && !error.empty()) {
        log::error("sync: the kept state is unreadable; starting empty until the portal answers", {{"error", error}});
        held = SyncFacts{};
    }
    facts_ = held;
    facts_.portal_url = std::move(portal_url);
    if (last) {
        if (std::string why = state_.check_state(*last); !why.empty()) {
            log::error("sync: the kept state is inconsistent; starting empty until the portal answers", {{"error", why}});
            last.reset();
        }
    }
    if (last) {
        state_.replace(std::move(*last));
        log::info("sync: starting from the last good state",
                  {{"account", state_.account_id()}, {"revision", std::to_string(state_.revision())},
                   {"members", std::to_string(state_.state().members.size())},
                   {"synced_at", std::to_string(facts_.synced_at)}});
    }
    withheld_ = members_withheld();
}

bool SyncedLoginSource::members_withheld() const {
    if (state_.empty()) return false;
    if (facts_.host_token_refused) return true;
    return unix_seconds(clock_()) - facts_.synced_at > offline_grace_.count();
}

ipc::LoginState SyncedLoginSource::load() {
    ipc::LoginState out = state_.state();  // keys are shared, not copied
    out.version = ipc::kLoginStateVersion;
    out.generated_at = unix_seconds(clock_());
    out.grace_seconds = settings_.grace.count();
    out.login_roles = settings_.login_roles;
    if (!settings_.apply_ip_allowlist) out.ssh_ip_allowlist.reset();
    // Profiles are for the local API's reads: the login path (and the fallback files it
    // writes) never holds them.
    out.account_name.reset();
    for (auto& m : out.members) m.profile.reset();
    withheld_ = members_withheld();
    if (withheld_)
        for (auto& m : out.members) m.status = MemberStatus::deactivated;
    // The portal deactivates support staff at their grant's end; should its word not come, they
    // are locked and their sessions ended here all the same (check_account refuses them too).
    // Whoever this load finds past their end for the first time is re-judged by this refresh
    // (take_changed follows), whether the tick or any other change brought it.
    const std::int64_t now = unix_seconds(clock_());
    next_window_end_ = 0;
    std::unordered_set<std::string> ended;
    for (auto& m : out.members) {
        if (m.role != Role::support) continue;
        if (m.access_until && now < *m.access_until) {
            if (next_window_end_ == 0 || *m.access_until < next_window_end_) next_window_end_ = *m.access_until;
            continue;
        }
        if (m.status != MemberStatus::deactivated && !window_ended_before_.count(m.unix_name))
            windows_ended_.insert(m.unix_name);
        ended.insert(m.unix_name);
        m.status = MemberStatus::deactivated;
    }
    window_ended_before_ = std::move(ended);
    return out;
}

void SyncedLoginSource::set_settings(const login::ViewSettings& s) {
    settings_ = s;
    settings_changed_ = true;
}

void SyncedLoginSource::set_offline_grace(std::chrono::seconds grace) {
    offline_grace_ = grace;
    check_withheld();
}

std::optional<std::unordered_set<std::string>> SyncedLoginSource::take_changed() {
    auto touched = state_.take_touched();
    auto ended = std::exchange(windows_ended_, {});
    if (settings_changed_) {
        settings_changed_ = false;
        return std::nullopt;
    }
    if (touched) touched->merge(ended);
    return touched;
}

void SyncedLoginSource::answered_now() {
    facts_.synced_at = unix_seconds(clock_());
    facts_.host_token_refused = false;
    offline_since_ = 0;
    last_error_.clear();
}

std::string SyncedLoginSource::accept_state(ipc::LoginState state) {
    if (std::string why = state_.check_state(state); !why.empty()) {
        answer_rejected("state: " + why);
        return why;
    }
    const bool was_withheld = withheld_;
    answered_now();
    try {
        store_.replace(state, facts_);
        disk_behind_ = false;
    } catch (const std::exception& e) {
        // Served from memory all the same; the next answer writes the whole state.
        disk_behind_ = true;
        log::error("sync: cannot keep the state on disk", {{"error", e.what()}});
    }
    log::info("sync: state taken", {{"account", state.account_id}, {"revision", std::to_string(state.revision)},
                                    {"members", std::to_string(state.members.size())}});
    state_.replace(std::move(state));
    settings_changed_ = settings_changed_ || was_withheld;
    on_change_();
    return "";
}

std::string SyncedLoginSource::accept_changes(const ipc::FeedChanges& changes) {
    if (std::string why = state_.check_changes(changes); !why.empty()) {
        answer_rejected("changes: " + why);
        return why;
    }
    const bool was_withheld = withheld_;
    answered_now();
    const bool news = changes.has_news() || changes.revision != state_.revision();
    if (news) {
        log::debug("sync: changes taken", {{"revision", std::to_string(changes.revision)},
                                           {"upserts", std::to_string(changes.upserts.size())},
                                           {"removed", std::to_string(changes.removed_user_ids.size())}});
        state_.apply(changes);
    }
    keep_on_disk(changes);
    if (!news) {
        if (was_withheld) check_withheld();
        return "";
    }
    if (was_withheld) settings_changed_ = true;  // every member's access comes back
    on_change_();
    return "";
}

// The changes on disk, in proportion to them; after a failed write (disk full...) the whole
// state, so that what a restart loads is never a mix of two revisions.
void SyncedLoginSource::keep_on_disk(const ipc::FeedChanges& changes) {
    try {
        if (disk_behind_) store_.replace(state_.state(), facts_);
        else store_.apply(changes, facts_);
        disk_behind_ = false;
    } catch (const std::exception& e) {
        disk_behind_ = true;
        log::error("sync: cannot keep the changes on disk; the whole state is written at the next answer",
                   {{"error", e.what()}});
    }
}

void SyncedLoginSource::portal_answered() {
    answered_now();
    try {
        if (disk_behind_) {
            store_.replace(state_.state(), facts_);
            disk_behind_ = false;
        } else {
            store_.save_facts(facts_);
        }
    } catch (const std::exception& e) {
        log::warning("sync: cannot note the portal's answer on disk", {{"error", e.what()}});
    }
    check_withheld();
}

void SyncedLoginSource::portal_failed(const std::string& error, bool host_token_refused) {
    if (offline_since_ == 0) {
        offline_since_ = unix_seconds(clock_());
        log::warning("sync: the portal is not answering; logins go on from the last good state",
                     {{"error", error}, {"revision", std::to_string(state_.revision())}});
    }
    last_error_ = error;
    if (host_token_refused && !facts_.host_token_refused) {
        log::error("sync: the portal refused this host's token (the host was deleted or its token revoked); "
                   "portal members are refused until it is enrolled again",
                   {{"portal", facts_.portal_url}});
        facts_.host_token_refused = true;
        try {
            store_.save_facts(facts_);
        } catch (const std::exception& e) {
            log::warning("sync: cannot note the refusal on disk", {{"error", e.what()}});
        }
    }
    check_withheld();
}

void SyncedLoginSource::answer_rejected(const std::string& why) {
    ++rejected_;
    last_error_ = "rejected: " + why;
    log::error("sync: the portal's answer is refused whole; the last good state stays", {{"why", why}});
}

void SyncedLoginSource::tick() {
    check_withheld();
    check_support_windows();
}

void SyncedLoginSource::check_support_windows() {
    const std::int64_t now = unix_seconds(clock_());
    if (next_window_end_ == 0 || now < next_window_end_) return;
    next_window_end_ = 0;  // the refresh's load() finds the next one, and whose window ended
    log::info("sync: support access ended here at its time; the support staff are refused from now on");
    on_change_();
}

void SyncedLoginSource::check_withheld() {
    if (members_withheld() == withheld_) return;
    log::warning(withheld_ ? "sync: portal members may log in again" : "sync: portal members are refused from now on",
                 {{"offline_grace", std::to_string(offline_grace_.count())},
                  {"host_token_refused", facts_.host_token_refused ? "yes" : "no"}});
    settings_changed_ = true;  // everyone's access changes
    on_change_();
}

SyncStatus SyncedLoginSource::status() const {
    SyncStatus s;
    s.portal_url = facts_.portal_url;
    s.account_id = state_.account_id();
    s.revision = state_.revision();
    s.last_sync = facts_.synced_at;
    s.offline_since = offline_since_;
    s.last_error = last_error_;
    s.rejected_answers = rejected_;
    s.host_token_refused = facts_.host_token_refused;
    s.members_withheld = members_withheld();
    return s;
}

}  // namespace portal::sync
