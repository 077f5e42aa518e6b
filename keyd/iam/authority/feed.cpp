#include "keyd/iam/authority/feed.h"

#include <ctime>
#include <set>

#include "keyd/iam/authority/feed_profiles.h"
#include "keyd/iam/errors.h"
#include "keyd/log/log.h"
#include "keyd/login/login_view.h"
#include "keyd/store/timestamp.h"

namespace portal::iam::authority {
namespace {

// More changes than this since a revision: the host is better off fetching the state.
constexpr std::size_t kMaxFeedChanges = 5000;

}  // namespace

std::string Feed::account_of(const Principal& p, const std::optional<std::string>& account_id) {
    if (p.host) {
        // A host's token is bound to its account: naming another one reaches nothing.
        if (account_id && *account_id != p.host->account_id) throw ApiError::not_found("account not found");
        // Asked again when a long-poll wakes: a host deleted meanwhile gets no further answer.
        if (!b_.store.hosts().get(p.host->account_id, p.host->id)) throw ApiError::credential_not_accepted();
        return p.host->account_id;
    }
    std::optional<Account> a;
    if (account_id) {
        a = b_.store.accounts().get(*account_id);
    } else {
        auto all = b_.store.accounts().all();
        if (!all.empty()) a = all.front();
    }
    if (!a) throw ApiError::not_found("account not found");
    return a->id;
}

std::uint64_t Feed::state_revision(const Principal& p, const std::optional<std::string>& account_id) {
    authorize({p}, Operation::read_iam_feed);
    (void)account_of(p, account_id);  // refuses another account's id, and a deleted host
    const std::uint64_t revision = b_.store.revision();
    if (p.host) b_.store.hosts().seen(p.host->id, store::now_rfc3339(), revision);
    return revision;
}

ipc::LoginState Feed::state(const Principal& p, const std::optional<std::string>& account_id, bool profiles) {
    authorize({p}, Operation::read_iam_feed);
    const std::string account = account_of(p, account_id);
    ipc::LoginState s;
    b_.store.read([&] {
        login::ViewSettings settings;
        settings.account_id = account;
        settings.apply_ip_allowlist = true;  // the host decides whether it applies it
        s = login::build_login_state(b_.store, settings, static_cast<std::int64_t>(std::time(nullptr)));
        if (profiles) attach_profiles(b_.store, s);
    });
    if (p.host) b_.store.hosts().seen(p.host->id, store::now_rfc3339(), s.revision);
    return s;
}

// Inside the store's read(): one revision throughout.
std::optional<FeedChanges> Feed::compute_changes(const std::string& account, std::uint64_t since, std::uint64_t now,
                                                 bool profiles) {
    if (since > now) return std::nullopt;  // from the future (a restored authority): start over
    const auto changes = b_.store.changes().since(since, kMaxFeedChanges);
    if (!changes) return std::nullopt;
    FeedChanges f;
    f.revision = now;
    std::set<std::string> users;         // their membership or keys here changed
    std::set<std::string> global_users;  // their user-global record changed (name, 2FA)
    for (const auto& c : *changes) {
        if (c.kind == store::ChangeKind::account) {
            if (c.entity_id != account) continue;
            const auto a = b_.store.accounts().get(account);
            if (!a) return std::nullopt;  // the account is gone
            f.enforce_2fa = a->enforce_2fa;
            f.ip_allowlist = login::active_ip_allowlist(b_.store, account);
            if (profiles) f.account_name = a->name;
            continue;
        }
        if (c.user_id.empty()) continue;
        if (c.account_id == account) users.insert(c.user_id);
        else if (c.account_id.empty()) global_users.insert(c.user_id);
    }
    for (const auto& id : users) {
        if (auto m = login::read_login_member(b_.store, account, id)) f.upserts.push_back(std::move(*m));
        else f.removed_user_ids.push_back(id);
    }
    if (profiles)
        for (auto& m : f.upserts) attach_profile(b_.store, account, m);
    // Another account's users are none of this host's business: a user-global change
    // shows only for the account's members.
    for (const auto& id : global_users) {
        if (users.count(id)) continue;
        if (auto m = login::read_login_member(b_.store, account, id)) {
            if (profiles) attach_profile(b_.store, account, *m);
            f.upserts.push_back(std::move(*m));
        }
    }
    return f;
}

std::optional<FeedChanges> Feed::changes(const Principal& p, const std::optional<std::string>& account_id,
                                         std::uint64_t since, bool profiles) {
    authorize({p}, Operation::read_iam_feed);
    const std::string account = account_of(p, account_id);
    std::optional<FeedChanges> out;
    b_.store.read([&] {
        const std::uint64_t now = b_.store.revision();
        std::lock_guard lock(answers_mu_);
        for (const auto& a : answers_)
            if (a.revision == now && a.since == since && a.account == account && a.profiles == profiles) {
                out = a.changes;
                return;
            }
        out = compute_changes(account, since, now, profiles);
        answers_.push_front({account, since, now, profiles, out});
        if (answers_.size() > kAnswersKept) answers_.pop_back();
    });
    if (out && p.host) b_.store.hosts().seen(p.host->id, store::now_rfc3339(), out->revision);
    return out;
}

HostTfaResult Feed::verify_tfa(const Principal& p, const HostTfaCheck& check) {
    authorize({p}, Operation::verify_tfa_for_host);
    if (!p.host) throw ApiError::unprocessable("user_id", "only an enrolled host asks for a member's code");
    // Only the host's own account's members: a host must not probe anyone else's codes.
    const auto member = login::read_login_member(b_.store, p.host->account_id, check.user_id);
    if (!member) throw ApiError::not_found("user not found in this account");
    HostTfaResult out;
    const auto user = b_.store.users().get(check.user_id);
    if (!user || member->status != MemberStatus::active) {
        out.result = "not_active";
    } else {
        const tfa::VerifyResult v = b_.tfa.verify(*user, check.code, /*allow_recovery=*/false);
        switch (v.verdict) {
            case tfa::Verdict::ok: out.result = "ok"; break;
            case tfa::Verdict::wrong_code: out.result = "wrong_code"; break;
            case tfa::Verdict::locked: out.result = "locked"; break;
            case tfa::Verdict::not_enrolled: out.result = "not_enrolled"; break;
        }
        out.retry_after = v.retry_after.count();
    }
    log::info("feed: verification code", {{"host", p.host->id},
                                          {"hostname", check.hostname},
                                          {"user_id", check.user_id},
                                          {"ip", check.ip},
                                          {"result", out.result}});
    return out;
}

std::size_t Feed::report_logins(const Principal& p, std::vector<LoginEvent> events) {
    authorize({p}, Operation::report_login_events);
    if (!p.host) throw ApiError::unprocessable("events", "only an enrolled host reports login events");
    std::vector<std::pair<std::string, LastLogin>> last;
    for (auto& e : events) {
        e.host_id = p.host->id;
        e.account_id = p.host->account_id;
        // A user id the host names must be a member here (else it is dropped from the event).
        if (e.user_id && !login::read_login_member(b_.store, e.account_id, *e.user_id)) e.user_id.reset();
    }
    std::vector<bool> fresh;
    b_.write_quietly([&] { fresh = b_.store.hosts().add_login_events(events); });
    // Only events seen for the first time move last_login (a resent batch changes nothing).
    std::size_t added = 0;
    for (std::size_t i = 0; i < events.size() && i < fresh.size(); ++i) {
        if (!fresh[i]) continue;
        ++added;
        const auto& e = events[i];
        if (e.user_id && e.decision == "allow")
            last.emplace_back(*e.user_id, LastLogin{e.at, e.ip, p.host->hostname, e.method, "success"});
    }
    if (!last.empty()) b_.write([&] { b_.store.users().record_logins(last); });
    return added;
}

std::uint64_t Feed::revision() { return b_.store.revision(); }

}  // namespace portal::iam::authority
