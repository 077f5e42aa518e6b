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
//   session  SessionEvent open/close, best effort: never fails a session.
//
// When the daemon does not answer, account falls back to the on-disk login state (a 2FA
// member is then refused: codes are verified only by the daemon). When neither answers, the
// module cannot tell a portal user from a local one and returns PAM_IGNORE: local users are
// never locked out, and a portal user gets no keys from the helper in that state anyway.
//
// Arguments: socket=PATH state=PATH timeout=MS debug
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <syslog.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

#include "shared/ipc/login_client.h"
#include "shared/ipc/state_file.h"

#define PORTAL_PAM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using namespace portal::ipc;

struct Options {
    ClientOptions client;
    std::string state_file = kDefaultStateFile;
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

Options parse_options(pam_handle_t* pamh, int argc, const char** argv) {
    Options o;
    for (int i = 0; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a.starts_with("socket=")) {
            o.client.socket_path = a.substr(7);
        } else if (a.starts_with("state=")) {
            o.state_file = a.substr(6);
        } else if (a.starts_with("timeout=")) {
            const auto v = a.substr(8);
            long ms = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
            if (ec == std::errc() && p == v.data() + v.size() && ms > 0 && ms <= 60'000)
                o.client.timeout = std::chrono::milliseconds(ms);
            else
                pam_syslog(pamh, LOG_WARNING, "ignoring bad argument %.100s", argv[i]);
        } else if (a == "debug") {
            o.debug = true;
        } else {
            pam_syslog(pamh, LOG_WARNING, "unknown argument %.100s", argv[i]);
        }
    }
    return o;
}

std::string item(pam_handle_t* pamh, int type) {
    const void* v = nullptr;
    if (pam_get_item(pamh, type, &v) != PAM_SUCCESS || !v) return {};
    return static_cast<const char*>(v);
}

struct Context {
    pam_handle_t* pamh;
    Options opt;
    std::string user, rhost, service, tty;
    bool silent;
};

// Reads the arguments and PAM items; a PAM error code when there is no user.
int load_context(Context& c, int flags, int argc, const char** argv) {
    c.opt = parse_options(c.pamh, argc, argv);
    c.silent = (flags & PAM_SILENT) != 0;
    const char* user = nullptr;
    const int rc = pam_get_user(c.pamh, &user, nullptr);
    if (rc != PAM_SUCCESS) return rc;
    if (!user || !*user) return PAM_USER_UNKNOWN;
    c.user = user;
    c.rhost = item(c.pamh, PAM_RHOST);
    c.service = item(c.pamh, PAM_SERVICE);
    c.tty = item(c.pamh, PAM_TTY);
    return PAM_SUCCESS;
}

void tell(const Context& c, std::string_view text) {
    if (c.silent || text.empty()) return;
    pam_error(c.pamh, "%s", clean(text, 400).c_str());
}

// The account decision: the daemon's, or the state file's when the daemon did not answer.
// nullopt: neither could decide.
std::optional<LoginDecision> decide(const Context& c, bool& from_fallback) {
    from_fallback = false;
    const LoginClient client(c.opt.client);
    auto online = client.check_account(c.user, c.rhost, c.service);
    if (online.ok()) return online.value;
    pam_syslog(c.pamh, LOG_WARNING, "portal-keyd did not answer (%s); using %s", clean(online.error, 200).c_str(),
               c.opt.state_file.c_str());
    from_fallback = true;
    std::string error;
    auto loaded = read_state_file(c.opt.state_file, error, std::time(nullptr), c.user);
    if (!loaded) {
        pam_syslog(c.pamh, LOG_ERR, "no usable login state: %s", clean(error, 200).c_str());
        return std::nullopt;
    }
    return check_account(loaded->state, c.user, policy_of(loaded->state), StateSource{true, loaded->expired});
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
    if (!d || !d->portal_user) {
        if (c.opt.debug)
            pam_syslog(c.pamh, LOG_DEBUG, "user %s: %s", clean(c.user).c_str(),
                       d ? clean(d->reason, 40).c_str() : "undecided");
        return PAM_IGNORE;
    }
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

constexpr std::string_view kTfaUnavailable =
    "Two-factor authentication is unavailable (portal-keyd is not answering); try again later.";

int authenticate(Context& c) {
    bool fallback = false;
    const auto d = decide(c, fallback);
    if (!d || !d->portal_user) return PAM_IGNORE;
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

    const LoginClient client(c.opt.client);
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
        default: tell(c, "Invalid verification code."); break;
    }
    return PAM_AUTH_ERR;
}

int session(Context& c, SessionEventKind event) {
    const LoginClient client(c.opt.client);
    auto r = client.session_event(c.user, event, c.rhost, c.service, c.tty);
    if (!r.ok() && c.opt.debug)
        pam_syslog(c.pamh, LOG_DEBUG, "SessionEvent not delivered: %s", clean(r.error, 200).c_str());
    return PAM_SUCCESS;
}

// No exception may cross into libpam (a C caller).
template <class F>
int guarded(pam_handle_t* pamh, int flags, int argc, const char** argv, int on_error, F f) {
    try {
        Context c{pamh, {}, {}, {}, {}, {}, false};
        const int rc = load_context(c, flags, argc, argv);
        if (rc != PAM_SUCCESS) return rc == PAM_CONV_AGAIN ? PAM_INCOMPLETE : on_error;
        return f(c);
    } catch (const std::exception& e) {
        pam_syslog(pamh, LOG_ERR, "internal error: %s", e.what());
    } catch (...) {
        pam_syslog(pamh, LOG_ERR, "internal error");
    }
    return on_error;
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
