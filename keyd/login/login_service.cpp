#include "keyd/login/login_service.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <optional>
#include <utility>
#include <variant>

#include "keyd/log/log.h"
#include "keyd/store/timestamp.h"
#include "shared/random.h"
#include "shared/ssh_key.h"
#include "shared/ipc/login_rules.h"

namespace portal::login {
namespace {

std::string rhost_or_local(const std::string& rhost) { return rhost.empty() ? std::string("local") : rhost; }

}  // namespace

LoginService::LoginService(CodeVerifier& codes, RecordLogins record, std::string hostname, Clock clock, Defer defer)
    : codes_(codes), record_(std::move(record)), hostname_(std::move(hostname)), clock_(std::move(clock)),
      defer_(std::move(defer)) {
    update(std::make_shared<const ipc::LoginState>());
}

LoginService::LoginService(store::Store& store, tfa::TfaService& tfa, std::string hostname, Clock clock, Defer defer)
    : own_codes_(std::make_unique<StoreCodeVerifier>(store, tfa)), codes_(*own_codes_),
      record_([&store](const std::vector<std::pair<std::string, LastLogin>>& batch) { store.users().record_logins(batch); }),
      hostname_(std::move(hostname)), clock_(std::move(clock)), defer_(std::move(defer)) {
    update(std::make_shared<const ipc::LoginState>());
}

void LoginService::update(std::shared_ptr<const ipc::LoginState> state) {
    std::shared_ptr<const Snapshot> snap = std::make_shared<Snapshot>(std::move(state));
    {
        std::lock_guard lock(mu_);
        current_.swap(snap);
    }
    // The previous snapshot (if nobody else holds it) is freed here, outside the lock: a
    // login never waits for 10,000 members to be destroyed.
}

std::shared_ptr<const ipc::LoginState> LoginService::state() const { return snapshot()->state; }

std::shared_ptr<const LoginService::Snapshot> LoginService::snapshot() const {
    std::lock_guard lock(mu_);
    return current_;
}

ipc::LoginState LoginService::view_for(const Snapshot& s, std::string_view user) {
    const ipc::LoginState& full = *s.state;
    ipc::LoginState v = ipc::header_of(full);
    if (const auto* m = s.lookup.find(user)) v.members.push_back(*m);
    return v;
}

ipc::GetAuthorizedKeysReply LoginService::get_authorized_keys(const ipc::GetAuthorizedKeysRequest& r) {
    const auto snap = snapshot();
    const ipc::LoginState v = view_for(*snap, r.user);
    const ipc::LoginDecision d = ipc::check_account(v, r.user, ipc::policy_of(v));
    ipc::GetAuthorizedKeysReply reply = ipc::authorized_keys_for(v, r.user, r.fingerprint, ipc::policy_of(v));
    // sshd asks for every key a client offers, twice for the one it accepts: keys handed out
    // are a debug line (the account check that follows logs the login); a portal user given
    // none (refused, or an unknown key) is logged, since no account check may follow.
    log::write(d.portal_user && reply.keys.empty() ? log::Level::info : log::Level::debug, "login: authorized keys",
               {{"user", r.user},
                {"fingerprint", r.fingerprint.value_or("")},
                {"decision", d.allow ? "allow" : "deny"},
                {"reason", d.reason},
                {"keys", std::to_string(reply.keys.size())}});
    return reply;
}

ipc::CheckAccountReply LoginService::check_account(const ipc::CheckAccountRequest& r) {
    const auto snap = snapshot();
    const ipc::LoginState v = view_for(*snap, r.user);
    ipc::LoginDecision d = ipc::check_account(v, r.user, ipc::policy_of(v), {}, r.rhost);
    if (d.portal_user && !d.allow && !v.members.empty()) queue_event(v.members.front(), r.rhost, "ssh", false, d.reason);
    log::write(d.portal_user ? log::Level::info : log::Level::debug, "login: account check",
               {{"user", r.user},
                {"rhost", rhost_or_local(r.rhost)},
                {"service", r.service},
                {"decision", d.allow ? "allow" : "deny"},
                {"reason", d.reason},
                {"tfa_required", d.tfa_required ? "yes" : "no"}});
    return d;
}

namespace {

// Whether `key` (SHA256:... as ssh-keygen -l prints it, or the API's MD5 colon hex, "MD5:"
// prefix optional) is the fingerprint of `k`.
bool key_is(const ipc::LoginKey& k, std::string_view key) {
    if (key.starts_with("SHA256:")) return k.fingerprint_sha256 == key;
    if (key.starts_with("MD5:")) key.remove_prefix(4);
    // The view keeps the SHA256 form only; the MD5 form comes from the key line itself.
    const auto parsed = parse_ssh_public_key(k.line);
    const auto* p = std::get_if<ParsedSshKey>(&parsed);
    if (!p || p->fingerprint_md5.size() != key.size()) return false;
    for (std::size_t i = 0; i < key.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(key[i])) != static_cast<unsigned char>(p->fingerprint_md5[i]))
            return false;
    return true;
}

}  // namespace

Explanation LoginService::explain(const ExplainQuery& q) const {
    const auto snap = snapshot();
    const ipc::LoginState v = view_for(*snap, q.user);
    Explanation e;
    e.query = q;
    std::optional<std::string_view> rhost;
    if (q.rhost) rhost = *q.rhost;
    e.decision = ipc::check_account(v, q.user, ipc::policy_of(v), {}, rhost, &e.rules);
    e.account_id = v.account_id;
    e.revision = v.revision;
    e.generated_at = v.generated_at;
    if (!v.members.empty()) {
        const ipc::LoginMember& m = v.members.front();
        e.member = ExplainedMember{m.user_id, m.unix_name, m.uid, m.role, m.status, m.tfa_enabled, m.published, m.keys.size()};
        if (q.key)
            e.key_matches = std::any_of(m.keys.begin(), m.keys.end(), [&](const ipc::LoginKey& k) { return key_is(k, *q.key); });
    }
    return e;
}

namespace {

ipc::VerifyResult to_reply(tfa::Verdict v) {
    switch (v) {
        case tfa::Verdict::ok: return ipc::VerifyResult::ok;
        case tfa::Verdict::wrong_code: return ipc::VerifyResult::wrong_code;
        case tfa::Verdict::locked: return ipc::VerifyResult::locked;
        case tfa::Verdict::not_enrolled: return ipc::VerifyResult::not_enrolled;
    }
    return ipc::VerifyResult::wrong_code;
}

}  // namespace

ipc::VerifyCodeReply StoreCodeVerifier::verify(const ipc::LoginMember& member, const ipc::VerifyCodeRequest& r,
                                               std::string& reason) {
    ipc::VerifyCodeReply reply;
    reply.portal_user = true;
    auto user = store_.users().get(member.user_id);
    if (!user) {
        reason = "user_vanished";  // removed since the last refresh
        return reply;              // wrong_code
    }
    const tfa::VerifyResult t = tfa_.verify(*user, r.code, /*allow_recovery=*/false);
    reply.result = to_reply(t.verdict);
    reply.retry_after = t.retry_after.count();
    return reply;
}

ipc::VerifyCodeReply LoginService::verify_code(const ipc::VerifyCodeRequest& r) {
    ipc::VerifyCodeReply out;
    check_code(r, [&out](ipc::VerifyCodeReply reply) { out = reply; }, /*async=*/false);
    return out;
}

void LoginService::verify_code_async(const ipc::VerifyCodeRequest& r, std::function<void(ipc::VerifyCodeReply)> done) {
    check_code(r, std::move(done), /*async=*/true);
}

void LoginService::check_code(const ipc::VerifyCodeRequest& r, std::function<void(ipc::VerifyCodeReply)> done, bool async) {
    const auto snap = snapshot();
    const ipc::LoginState v = view_for(*snap, r.user);
    const ipc::LoginDecision d = ipc::check_account(v, r.user, ipc::policy_of(v), {}, r.rhost);
    // Logged and counted once the verdict is in (perhaps on another thread).
    auto finish = [this, user = r.user, rhost = r.rhost, service = r.service, portal_user = d.portal_user,
                   member = d.allow ? std::optional<ipc::LoginMember>(v.members.front()) : std::nullopt,
                   done = std::move(done)](ipc::VerifyCodeReply reply, const std::string& reason) {
        reply.portal_user = portal_user;
        if (member && reply.result != ipc::VerifyResult::ok) queue_event(*member, rhost, "totp", false, reason);
        log::write(portal_user ? log::Level::info : log::Level::debug, "login: verification code",
                   {{"user", user},
                    {"rhost", rhost_or_local(rhost)},
                    {"service", service},
                    {"decision", reply.result == ipc::VerifyResult::ok ? "allow" : "deny"},
                    {"reason", reason},
                    {"retry_after", std::to_string(reply.retry_after)}});
        done(reply);
    };
    if (!d.allow) {
        ipc::VerifyCodeReply refused;  // wrong_code: never ok unless the verifier says so
        return finish(refused, d.reason);
    }
    auto judged = [finish = std::move(finish)](ipc::VerifyCodeReply reply, std::string why) {
        const std::string reason = why.empty() ? std::string(ipc::to_string(reply.result)) : why;
        finish(reply, reason);
    };
    if (async) return codes_.verify_async(v.members.front(), r, std::move(judged));
    std::string why;
    const ipc::VerifyCodeReply reply = codes_.verify(v.members.front(), r, why);
    judged(reply, why);
}

ipc::SessionEventReply LoginService::session_event(const ipc::SessionEventRequest& r) {
    const auto snap = snapshot();
    const ipc::LoginMember* m = snap->lookup.find(r.user);
    const bool portal_user = m && m->published;
    log::write(portal_user ? log::Level::info : log::Level::debug, "login: session",
               {{"user", r.user},
                {"event", std::string(ipc::to_string(r.event))},
                {"rhost", rhost_or_local(r.rhost)},
                {"service", r.service},
                {"tty", r.tty}});
    if (!portal_user || r.event != ipc::SessionEventKind::open) return {};
    const auto now = std::chrono::system_clock::to_time_t(clock_());
    {
        std::lock_guard lock(logins_mu_);
        logins_.emplace_back(m->user_id, LastLogin{store::format_rfc3339(now), r.rhost, hostname_, "ssh", "success"});
        login_names_.push_back(m->unix_name);
    }
    queue_event(*m, r.rhost, "ssh", true, "session_opened");
    defer_flush();
    return {};
}

void LoginService::queue_event(const ipc::LoginMember& m, std::string_view rhost, std::string method, bool allow,
                               std::string reason) {
    if (!on_events_) return;
    LoginEvent e;
    e.id = random_id("lev_");
    e.at = store::format_rfc3339(std::chrono::system_clock::to_time_t(clock_()));
    e.unix_name = m.unix_name;
    e.user_id = m.user_id;
    e.ip = rhost.empty() ? std::string("local") : std::string(rhost.substr(0, 64));
    e.method = std::move(method);
    e.decision = allow ? "allow" : "deny";
    e.reason = std::move(reason);
    {
        std::lock_guard lock(logins_mu_);
        events_.push_back(std::move(e));
    }
    defer_flush();
}

void LoginService::defer_flush() {
    {
        std::lock_guard lock(logins_mu_);
        if (logins_task_queued_) return;
        logins_task_queued_ = true;
    }
    if (defer_) defer_([this] { write_logins(); });
    else write_logins();
}

void LoginService::write_logins() {
    std::vector<std::pair<std::string, LastLogin>> batch;
    std::vector<std::string> names;
    std::vector<LoginEvent> events;
    {
        std::lock_guard lock(logins_mu_);
        batch.swap(logins_);
        names.swap(login_names_);
        events.swap(events_);
        logins_task_queued_ = false;
    }
    if (!events.empty() && on_events_) on_events_(std::move(events));
    if (batch.empty()) return;
    if (on_logins_) on_logins_(names);
    try {
        if (record_) record_(batch);
    } catch (const std::exception& e) {
        // The sessions are open either way; a store hiccup must not fail a login.
        log::warning("login: cannot record last logins",
                     {{"logins", std::to_string(batch.size())}, {"error", e.what()}});
    }
}

}  // namespace portal::login
