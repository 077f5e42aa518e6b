// The daemon's answers on the login socket (ipc::LoginHandler), from the current in-memory
// login state. Decisions come only from ipc::check_account / ipc::authorized_keys_for; this
// class looks the user up, asks them, verifies codes through TfaService, and logs each
// decision once (user, rhost, fingerprint, decision, reason: never a code or a secret).
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "keyd/login/explanation.h"
#include "keyd/login/state_delta.h"
#include "keyd/store/store.h"
#include "keyd/tfa/tfa_service.h"
#include "shared/ipc/login_server.h"
#include "shared/ipc/login_state.h"

namespace portal::login {

// Who judges a member's TOTP code: the store's sealed secret in authority mode, the portal
// in agent mode (secrets never leave it). Called on the login thread.
class CodeVerifier {
public:
    virtual ~CodeVerifier() = default;
    // `reason` (for the log) is set when the result is not the code's own verdict.
    virtual ipc::VerifyCodeReply verify(const ipc::LoginMember& member, const ipc::VerifyCodeRequest& r,
                                        std::string& reason) = 0;
    // The same without waiting: `done` (reply, reason) is called exactly once, on any thread.
    // Default: verify() at once.
    using Done = std::function<void(ipc::VerifyCodeReply reply, std::string reason)>;
    virtual void verify_async(const ipc::LoginMember& member, const ipc::VerifyCodeRequest& r, Done done) {
        std::string reason;
        const ipc::VerifyCodeReply reply = verify(member, r, reason);
        done(reply, std::move(reason));
    }
};

// Authority mode: the user's secret from the store, TfaService's replay mark and limits.
class StoreCodeVerifier final : public CodeVerifier {
public:
    StoreCodeVerifier(store::Store& store, tfa::TfaService& tfa) : store_(store), tfa_(tfa) {}
    ipc::VerifyCodeReply verify(const ipc::LoginMember& member, const ipc::VerifyCodeRequest& r,
                                std::string& reason) override;

private:
    store::Store& store_;
    tfa::TfaService& tfa_;
};

class LoginService final : public ipc::LoginHandler {
public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    // Runs a task elsewhere (the daemon: on the main thread), so that the login thread never
    // waits for a store write. Empty: run it at once, on the caller's thread.
    using Defer = std::function<void(std::function<void()>)>;
    // Records the sessions members opened (user id, last login), off the login thread.
    using RecordLogins = std::function<void(const std::vector<std::pair<std::string, LastLogin>>&)>;
    // `hostname` goes into users' last_login.host.
    LoginService(CodeVerifier& codes, RecordLogins record, std::string hostname, Clock clock, Defer defer = {});
    // Authority mode: codes checked against the store's secrets, logins kept as last_login.
    LoginService(store::Store& store, tfa::TfaService& tfa, std::string hostname, Clock clock, Defer defer = {});

    // Swaps in a new state (after a refresh). Until the first update, nobody is a portal user.
    void update(std::shared_ptr<const ipc::LoginState> state);
    std::shared_ptr<const ipc::LoginState> state() const;

    ipc::GetAuthorizedKeysReply get_authorized_keys(const ipc::GetAuthorizedKeysRequest& r) override;
    ipc::CheckAccountReply check_account(const ipc::CheckAccountRequest& r) override;
    // The same decision as check_account (same snapshot, same rules, no event queued, nothing
    // logged), with every rule's verdict, the member and whether `q.key` is one of their keys.
    // For the API (GET /v1/server/why), which authorizes and validates the query first.
    Explanation explain(const ExplainQuery& q) const;
    // A member the rules refuse gets wrong_code without their code being looked at: no
    // oracle for a code's validity, no step of their 2FA spent, no lockout counted. The PAM
    // module asks CheckAccount first, so this only happens when access changed in between.
    ipc::VerifyCodeReply verify_code(const ipc::VerifyCodeRequest& r) override;
    // The login socket's path: the code is judged without holding the login thread (an
    // agent's portal answers later).
    void verify_code_async(const ipc::VerifyCodeRequest& r, std::function<void(ipc::VerifyCodeReply)> done) override;
    // Logged; "open" of a portal member records last_login (at, rhost, this host, "ssh",
    // "success"): queued and written by a deferred task, all the queued ones in one
    // transaction. Answers at once.
    ipc::SessionEventReply session_event(const ipc::SessionEventRequest& r) override;

    // Told, by the deferred task, the unix names of the members whose sessions it recorded
    // (the userdb publisher keeps drop-ins for them). Set before logins are served.
    using OnLogins = std::function<void(const std::vector<std::string>& unix_names)>;
    void on_logins(OnLogins f) { on_logins_ = std::move(f); }

    // Login decisions about portal members (sessions opened, account checks and codes
    // refused), handed over in batches by the deferred task: an agent reports them to its
    // portal. Set before logins are served.
    using OnEvents = std::function<void(std::vector<LoginEvent> events)>;
    void on_events(OnEvents f) { on_events_ = std::move(f); }

private:
    // A state plus how to find a name in it: the login path looks up one name among
    // thousands (a binary search: the login view keeps members in name order).
    struct Snapshot {
        explicit Snapshot(std::shared_ptr<const ipc::LoginState> s) : state(std::move(s)), lookup(*state) {}
        std::shared_ptr<const ipc::LoginState> state;
        MemberLookup lookup;
    };
    // The state reduced to `user` (header fields and that member, if any), so that the
    // shared rules (linear lookups) cost O(1) here.
    static ipc::LoginState view_for(const Snapshot& s, std::string_view user);
    std::shared_ptr<const Snapshot> snapshot() const;

    void check_code(const ipc::VerifyCodeRequest& r, std::function<void(ipc::VerifyCodeReply)> done, bool async);
    void write_logins();  // the deferred task
    void queue_event(const ipc::LoginMember& m, std::string_view rhost, std::string method, bool allow, std::string reason);
    void defer_flush();   // posts write_logins() once for what is queued

    std::unique_ptr<CodeVerifier> own_codes_;  // the authority constructor's
    CodeVerifier& codes_;
    RecordLogins record_;
    std::string hostname_;
    Clock clock_;
    Defer defer_;
    mutable std::mutex mu_;
    std::shared_ptr<const Snapshot> current_;
    std::mutex logins_mu_;
    std::vector<std::pair<std::string, LastLogin>> logins_;  // user id, last login; not yet written
    std::vector<std::string> login_names_;                      // their unix names
    std::vector<LoginEvent> events_;                            // not yet handed over
    OnLogins on_logins_;
    OnEvents on_events_;
    bool logins_task_queued_ = false;
};

}  // namespace portal::login
