// pam_portal.so: portal-keyd's PAM module (docs/LOGIN_PROTOCOL.md).
//
//   account  CheckAccount: non-portal user -> PAM_IGNORE; refused -> message + PAM_PERM_DENIED.
//   auth     for a portal member with 2FA: "Verification code: " then VerifyCode. Everyone
//            else -> PAM_IGNORE. sshd runs this stack only for members of the 2FA group
//            (Match Group portal-2fa -> AuthenticationMethods publickey,keyboard-interactive:pam),
//            so members without 2FA never reach it; PAM_IGNORE keeps it harmless if they do.
//            Never PAM_SUCCESS without the daemon's "ok".
//
// SSH logins of 2FA members do not rely on sshd's configuration alone (a Match Group that
// does not see a fresh membership, or a config without AuthenticationMethods, would let a
// key alone through). For an SSH login (service sshd, or sshd's SSH_AUTH_INFO_0 in the PAM
// environment, which sshd sets before auth and account):
//   auth     asks for the code only after a public key: SSH_AUTH_INFO_0 must list a
//            "publickey" method, else PAM_AUTH_ERR without a prompt;
//   account  refuses a 2FA member unless this PAM transaction accepted a code. sshd runs
//            keyboard-interactive's pam_authenticate and pam_acct_mgmt in the same process,
//            so the mark set by auth (pam_set_data) is seen by account; a key-only login
//            reaches account without it.
//   setcred  PAM_SUCCESS.
//   session  open: a member's home directory when it does not exist yet (home_directory.h);
//            SessionEvent open/close, best effort. Never fails a session.
//
// When the daemon does not answer, account falls back to the on-disk login state (the state
// directory's header and this user's entry, shared/ipc/state_dir.h; a 2FA
// member is then refused: codes are verified only by the daemon). When neither answers, the
// module cannot tell a portal user from a local one and returns PAM_IGNORE: local users are
// never locked out, and a portal user gets no keys from the helper in that state anyway.
//
// Local users are never locked out (pam_systemd_home's and pam_sss's habit): before any IPC
// the module decides "not ours" for root, names a member can never have, and names that
// resolve (getpwnam) to a uid outside the portal range, and returns PAM_IGNORE; so does a
// name the daemon answers for but that resolves here to another uid than the member's (a
// local account shadowing a member logs in as itself, never as the member). The decision
// is kept for the transaction (pam_set_data), so later phases skip it. An error (a failed
// pam_get_user, an exception) is PAM_IGNORE too, until the daemon or its state directory said the
// user is a portal member with this uid; only then can this module refuse.
//
// Arguments: socket=PATH state=PATH timeout=MS uid_min=N uid_max=N skel=PATH mkhomedir=yes|no
// debug. Bad or unknown
// arguments are logged and ignored (the default stands): a typo never locks anyone out.
// uid_min/uid_max default to the daemon's defaults (200000-299999) and must cover the
// daemon's [users] range.
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <syslog.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pam_module/home_directory.h"
#include "pam_module/local_identity.h"
#include "shared/ipc/login_client.h"
#include "shared/ipc/state_dir.h"

#define PORTAL_PAM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using namespace portal::ipc;
using portal::login_path::Resolution;
using portal::login_path::UidRange;

struct Options {
    ClientOptions client;
    std::string state_dir = kDefaultStateDir;
    UidRange uids;
    portal::login_path::HomeOptions home;
    bool debug = false;
};

// Anything a remote user controls (user name, rhost, daemon text) is bounded and stripped of
// control characters before it reaches a log line or the user's terminal.
std::string clean(std::string_view s, std::size_t max = 100) {
    std::string out;
    out.reserve(std::min(s.size(), max));
    for (char c : s.substr(0, max)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? '?' : c;
    }
    if (s.size() > max) out += "...";
    return out;
}

// A whole decimal number in [min, max], or nullopt.
std::optional<long long> number_in(std::string_view v, long long min, long long max) {
    long long n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < min || n > max) return std::nullopt;
    return n;
}

Options parse_options(pam_handle_t* pamh, int argc, const char** argv) {
    Options o;
    UidRange uids;
    auto bad = [&](int i) { pam_syslog(pamh, LOG_WARNING, "ignoring bad argument %.100s", argv[i]); };
    for (int i = 0; i < argc; ++i) {
        if (!argv[i]) continue;
        const std::string_view a = argv[i];
        if (a.starts_with("socket=")) {
            if (a.size() > 7 && a[7] == '/') o.client.socket_path = a.substr(7);
            else bad(i);
        } else if (a.starts_with("state=")) {
            if (a.size() > 6 && a[6] == '/') o.state_dir = a.substr(6);
            else bad(i);
        } else if (a.starts_with("timeout=")) {
            if (auto ms = number_in(a.substr(8), 1, 60'000)) o.client.timeout = std::chrono::milliseconds(*ms);
            else bad(i);
        } else if (a.starts_with("uid_min=")) {
            if (auto n = number_in(a.substr(8), 1, UINT32_MAX)) uids.min = static_cast<std::uint32_t>(*n);
            else bad(i);
        } else if (a.starts_with("uid_max=")) {
            if (auto n = number_in(a.substr(8), 1, UINT32_MAX)) uids.max = static_cast<std::uint32_t>(*n);
            else bad(i);
        } else if (a.starts_with("skel=")) {
            if (a.size() > 5 && a[5] == '/') o.home.skel = a.substr(5);
            else bad(i);
        } else if (a == "mkhomedir=yes" || a == "mkhomedir=no") {
            o.home.create = a == "mkhomedir=yes";
        } else if (a == "debug") {
            o.debug = true;
        } else {
            pam_syslog(pamh, LOG_WARNING, "ignoring unknown argument %.100s", argv[i]);
        }
    }
    if (uids.min <= uids.max) o.uids = uids;
    else pam_syslog(pamh, LOG_WARNING, "ignoring uid_min > uid_max; using %u-%u", o.uids.min, o.uids.max);
    return o;
}

std::string item(pam_handle_t* pamh, int type) {
    const void* v = nullptr;
    if (pam_get_item(pamh, type, &v) != PAM_SUCCESS || !v) return {};
    return static_cast<const char*>(v);
}

struct Context {
    pam_handle_t* pamh = nullptr;
    Options opt;
    std::string user, rhost, service, tty;
    bool silent = false;
    Resolution local;     // what NSS says about `user` here
    bool member = false;  // the daemon (or its state directory) said: a portal member with this uid
};

// Reads the arguments and PAM items; a PAM error code when there is no user.
int load_context(Context& c, int flags, int argc, const char** argv) {
    c.opt = parse_options(c.pamh, argc, argv);
    c.silent = (flags & PAM_SILENT) != 0;
    const char* user = nullptr;
    const int rc = pam_get_user(c.pamh, &user, nullptr);
    if (rc != PAM_SUCCESS) return rc;
    if (!user || !*user) return PAM_USER_UNKNOWN;
    c.user = std::string_view(user).substr(0, 1024);
    c.rhost = item(c.pamh, PAM_RHOST);
    c.service = item(c.pamh, PAM_SERVICE);
    c.tty = item(c.pamh, PAM_TTY);
    return PAM_SUCCESS;
}

void tell(const Context& c, std::string_view text) {
    if (c.silent || text.empty()) return;
    pam_error(c.pamh, "%s", clean(text, 400).c_str());
}

// pam_set_data key: the user name this transaction found not to be ours (later phases and
// modules stacked twice skip the work; compared with PAM_USER, which a module may change).
constexpr const char* kNotOurs = "pam_portal_not_ours";

void free_name(pam_handle_t*, void* data, int) {
    // The string given to libpam below, back from the C side.
    std::unique_ptr<std::string>(static_cast<std::string*>(data)).reset();
}

bool known_not_ours(const Context& c) {
    const void* data = nullptr;
    return pam_get_data(c.pamh, kNotOurs, &data) == PAM_SUCCESS && data &&
           *static_cast<const std::string*>(data) == c.user;
}

void remember_not_ours(const Context& c, std::string_view why) {
    if (c.opt.debug) pam_syslog(c.pamh, LOG_DEBUG, "user %s: not a portal user (%s)", clean(c.user).c_str(), clean(why, 80).c_str());
    auto name = std::make_unique<std::string>(c.user);
    if (pam_set_data(c.pamh, kNotOurs, name.get(), free_name) == PAM_SUCCESS) (void)name.release();
}

// "Not ours" without IPC (local_identity.h): root, impossible names, local uids outside the
// portal range. Every local login stops here.
bool not_ours_here(Context& c) {
    if (known_not_ours(c)) return true;
    c.local = portal::login_path::resolve_user(c.user);
    const auto why = portal::login_path::not_ours_without_ipc(c.user, c.local, c.opt.uids);
    if (!why) return false;
    remember_not_ours(c, *why);
    return true;
}

// pam_set_data key: the member this transaction found (name and uid), so that the session
// phase after account knows without asking again.
constexpr const char* kMember = "pam_portal_member";
struct KnownMember {
    std::string user;
    uid_t uid = 0;
};

void free_member(pam_handle_t*, void* data, int) {
    std::unique_ptr<KnownMember>(static_cast<KnownMember*>(data)).reset();
}

void remember_member(const Context& c, uid_t uid) {
    auto m = std::make_unique<KnownMember>(KnownMember{c.user, uid});
    if (pam_set_data(c.pamh, kMember, m.get(), free_member) == PAM_SUCCESS) (void)m.release();
}

std::optional<uid_t> known_member(const Context& c) {
    const void* data = nullptr;
    if (pam_get_data(c.pamh, kMember, &data) != PAM_SUCCESS || !data) return std::nullopt;
    const auto* m = static_cast<const KnownMember*>(data);
    if (m->user != c.user) return std::nullopt;
    return m->uid;
}

// The account decision: the daemon's, or the state directory's when the daemon did not answer.
// nullopt: neither could decide.
std::optional<LoginDecision> ask(const Context& c, bool& from_fallback) {
    from_fallback = false;
    const LoginClient client(c.opt.client);
    auto online = client.check_account(c.user, c.rhost, c.service);
    if (online.ok()) return online.value;
    pam_syslog(c.pamh, LOG_WARNING, "portal-keyd did not answer (%s); using %s", clean(online.error, 200).c_str(),
               c.opt.state_dir.c_str());
    from_fallback = true;
    std::string error;
    auto loaded = read_state_dir(c.opt.state_dir, c.user, error, std::time(nullptr));
    if (!loaded) {
        pam_syslog(c.pamh, LOG_ERR, "no usable login state: %s", clean(error, 200).c_str());
        return std::nullopt;
    }
    return check_account(loaded->state, c.user, policy_of(loaded->state), StateSource{true, loaded->expired}, c.rhost);
}

// The decision for a portal member, or nullopt when the user is not ours (PAM_IGNORE): not
// ours here, not a portal user by the daemon's answer, no answer at all, or a name that
// resolves here to another uid than the member's (a local account shadows the member: it
// logs in as itself, never as the member). Sets c.member otherwise.
std::optional<LoginDecision> decide(Context& c, bool& from_fallback) {
    from_fallback = false;
    if (not_ours_here(c)) return std::nullopt;
    auto d = ask(c, from_fallback);
    if (!d) return std::nullopt;  // undecided: not remembered, the next phase asks again
    if (!d->portal_user) {
        remember_not_ours(c, d->reason);
        return std::nullopt;
    }
    if (c.local.found() && (!d->uid || *d->uid != c.local.uid)) {
        pam_syslog(c.pamh, LOG_NOTICE, "user %s is uid %u here, the portal member's uid is %s: a local account, not ours",
                   clean(c.user).c_str(), static_cast<unsigned>(c.local.uid),
                   d->uid ? std::to_string(*d->uid).c_str() : "unknown");
        remember_not_ours(c, "shadowed by a local account");
        return std::nullopt;
    }
    c.member = true;
    if (d->uid) remember_member(c, *d->uid);
    return d;
}

// pam_set_data key: set when this transaction accepted a verification code (libpam keeps
// module data per handle and hands it only to modules, never to the application).
constexpr const char* kCodeAccepted = "pam_portal_code_accepted";

// An SSH login, as sshd runs PAM: its service name, or the auth info only sshd puts in the
// PAM environment (a remote user cannot set PAM environment variables before auth).
bool ssh_login(const Context& c) {
    return c.service == "sshd" || pam_getenv(c.pamh, "SSH_AUTH_INFO_0") != nullptr;
}

// SSH_AUTH_INFO_0 is one line per method that succeeded so far ("publickey ssh-ed25519 ...").
bool publickey_done(const Context& c) {
    const char* info = pam_getenv(c.pamh, "SSH_AUTH_INFO_0");
    if (!info) return false;
    std::string_view rest = info;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        if (line.starts_with("publickey ")) return true;
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }
    return false;
}

bool code_accepted(const Context& c) {
    const void* mark = nullptr;
    return pam_get_data(c.pamh, kCodeAccepted, &mark) == PAM_SUCCESS && mark != nullptr;
}

constexpr std::string_view kCodeRequired =
    "This account needs your SSH key and then a verification code; the key alone is not enough.";

int account(Context& c) {
    bool fallback = false;
    const auto d = decide(c, fallback);
    if (!d) return PAM_IGNORE;
    if (!d->allow) {
        pam_syslog(c.pamh, LOG_NOTICE, "user %s from %s refused: %s%s", clean(c.user).c_str(),
                   c.rhost.empty() ? "local" : clean(c.rhost).c_str(), clean(d->reason, 40).c_str(),
                   fallback ? " (fallback state)" : "");
        tell(c, d->message.empty() ? std::string("Access denied by portal-keyd.") : d->message);
        return PAM_PERM_DENIED;
    }
    if (d->tfa_required && ssh_login(c) && !code_accepted(c)) {
        pam_syslog(c.pamh, LOG_NOTICE, "user %s from %s refused: no verification code in this login",
                   clean(c.user).c_str(), c.rhost.empty() ? "local" : clean(c.rhost).c_str());
        tell(c, kCodeRequired);
        return PAM_PERM_DENIED;
    }
    if (c.opt.debug)
        pam_syslog(c.pamh, LOG_DEBUG, "user %s allowed%s", clean(c.user).c_str(), fallback ? " (fallback state)" : "");
    return PAM_SUCCESS;
}

// Owns a pam_prompt response; wiped before it is freed.
struct Response {
    char* p = nullptr;
    ~Response() {
        if (p) {
            explicit_bzero(p, std::strlen(p));
            std::free(p);
        }
    }
};

// The longest a code check may take: an agent's portal answers within 4 s ([portal] tfa_timeout).
constexpr long kVerifyCodeTimeoutMs = 6000;

constexpr std::string_view kTfaUnavailable =
    "Two-factor authentication is unavailable (portal-keyd is not answering); try again later.";

int authenticate(Context& c) {
    bool fallback = false;
    const auto d = decide(c, fallback);
    if (!d) return PAM_IGNORE;
    // In fallback, check_account refuses 2FA members (tfa_unavailable): only the daemon
    // verifies codes, so without it a 2FA member cannot pass this step.
    if (!d->allow) {
        pam_syslog(c.pamh, LOG_NOTICE, "user %s refused: %s%s", clean(c.user).c_str(), clean(d->reason, 40).c_str(),
                   fallback ? " (fallback state)" : "");
        tell(c, d->message);
        return PAM_AUTH_ERR;
    }
    if (!d->tfa_required) return PAM_IGNORE;
    if (ssh_login(c) && !publickey_done(c)) {
        pam_syslog(c.pamh, LOG_NOTICE, "user %s from %s refused: code step before a public key",
                   clean(c.user).c_str(), c.rhost.empty() ? "local" : clean(c.rhost).c_str());
        tell(c, kCodeRequired);
        return PAM_AUTH_ERR;
    }

    Response code;
    const int rc = pam_prompt(c.pamh, PAM_PROMPT_ECHO_OFF, &code.p, "%s", "Verification code: ");
    if (rc != PAM_SUCCESS) return rc == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_CONV_ERR;
    if (!code.p || !*code.p || std::strlen(code.p) > 64) {
        tell(c, "Invalid verification code.");
        return PAM_AUTH_ERR;
    }

    // An agent's daemon asks its portal (up to its [portal] tfa_timeout, at most 4 s): wait
    // longer than that here, or a code the portal accepts would be spent on a refused login.
    auto verify_options = c.opt.client;
    verify_options.timeout = std::max(verify_options.timeout, std::chrono::milliseconds(kVerifyCodeTimeoutMs));
    const LoginClient client(verify_options);
    auto v = client.verify_code(c.user, code.p, c.rhost, c.service);
    if (!v.ok()) {
        pam_syslog(c.pamh, LOG_ERR, "user %s: VerifyCode failed: %s", clean(c.user).c_str(), clean(v.error, 200).c_str());
        tell(c, kTfaUnavailable);
        return PAM_AUTH_ERR;
    }
    const auto& r = v.value;
    const std::string rhost = c.rhost.empty() ? std::string("local") : clean(c.rhost);
    if (r.portal_user && r.result == VerifyResult::ok) {
        pam_syslog(c.pamh, LOG_INFO, "user %s from %s: verification code accepted", clean(c.user).c_str(), rhost.c_str());
        // Static data, no cleanup: only its presence matters to account().
        static const char accepted = 1;
        if (pam_set_data(c.pamh, kCodeAccepted, const_cast<char*>(&accepted), nullptr) != PAM_SUCCESS)
            return PAM_AUTH_ERR;  // account() would refuse the login anyway; say so here
        return PAM_SUCCESS;
    }
    pam_syslog(c.pamh, LOG_NOTICE, "user %s from %s: verification code refused (%s)", clean(c.user).c_str(),
               rhost.c_str(), r.portal_user ? std::string(to_string(r.result)).c_str() : "not a portal user");
    switch (r.result) {
        case VerifyResult::locked:
            tell(c, "Too many wrong verification codes; try again in " +
                        std::to_string(r.retry_after > 0 ? r.retry_after : 1) + " seconds.");
            break;
        case VerifyResult::not_enrolled:
            tell(c, "Two-factor authentication is not set up for this account.");
            break;
        case VerifyResult::unavailable:
            tell(c, "The verification code cannot be checked now (the portal is not answering); try again later.");
            break;
        default: tell(c, "Invalid verification code."); break;
    }
    return PAM_AUTH_ERR;
}

// The member's home when it is missing: the uid the account phase found, else asked now.
void make_home(Context& c) {
    if (!c.opt.home.create) return;
    auto uid = known_member(c);
    if (!uid) {
        bool fallback = false;
        const auto d = decide(c, fallback);
        if (!d || !d->uid) return;
        uid = *d->uid;
    }
    portal::login_path::ensure_home_directory(c.pamh, c.user, *uid, c.opt.home);
}

int session(Context& c, SessionEventKind event) {
    if (not_ours_here(c)) return PAM_SUCCESS;
    if (event == SessionEventKind::open) make_home(c);
    const LoginClient client(c.opt.client);
    auto r = client.session_event(c.user, event, c.rhost, c.service, c.tty);
    if (!r.ok() && c.opt.debug)
        pam_syslog(c.pamh, LOG_DEBUG, "SessionEvent not delivered: %s", clean(r.error, 200).c_str());
    return PAM_SUCCESS;
}

// No exception may cross into libpam (a C caller). `on_error` is returned only for a user
// known to be a portal member; for anyone else an error is PAM_IGNORE: it never locks out
// root or a local user.
template <class F>
int guarded(pam_handle_t* pamh, int flags, int argc, const char** argv, int on_error, F f) {
    Context c;
    c.pamh = pamh;
    try {
        const int rc = load_context(c, flags, argc, argv);
        if (rc == PAM_CONV_AGAIN) return PAM_INCOMPLETE;
        if (rc != PAM_SUCCESS) {
            pam_syslog(pamh, LOG_WARNING, "no user name (%s); ignoring", pam_strerror(pamh, rc));
            return PAM_IGNORE;
        }
        return f(c);
    } catch (const std::exception& e) {
        pam_syslog(pamh, LOG_ERR, "internal error: %s", e.what());
    } catch (...) {
        pam_syslog(pamh, LOG_ERR, "internal error");
    }
    return c.member ? on_error : PAM_IGNORE;
}

}  // namespace

PORTAL_PAM_EXPORT int pam_sm_acct_mgmt(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    return guarded(pamh, flags, argc, argv, PAM_SERVICE_ERR, account);
}

PORTAL_PAM_EXPORT int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    return guarded(pamh, flags, argc, argv, PAM_AUTH_ERR, authenticate);
}

PORTAL_PAM_EXPORT int pam_sm_setcred(pam_handle_t*, int, int, const char**) { return PAM_SUCCESS; }

PORTAL_PAM_EXPORT int pam_sm_open_session(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    return guarded(pamh, flags, argc, argv, PAM_SUCCESS, [](Context& c) { return session(c, SessionEventKind::open); });
}

PORTAL_PAM_EXPORT int pam_sm_close_session(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    return guarded(pamh, flags, argc, argv, PAM_SUCCESS, [](Context& c) { return session(c, SessionEventKind::close); });
}
