// sshd's AuthorizedKeysCommand helper: `authorized-keys -- USER UID FINGERPRINT` (the drop-in:
// `-- %u %U %f`) prints the keys sshd may accept for a portal user (only the offered one). It
// asks portal-keyd over the login socket and falls back to the on-disk login state when the
// daemon does not answer (the state directory: the header and this user's entry only, see
// shared/ipc/state_dir.h). Non-portal and refused users get no output, and neither does a
// member whose name sshd resolved to another uid than the member's (a local account named
// like the member, e.g. added to /etc/passwd after the member was published, must never
// accept the member's keys). Always exits 0: sshd ignores the output of a failing command,
// and stderr is discarded by sshd (kept for tests).
//
// Positional forms: USER UID FINGERPRINT; USER UID; USER FINGERPRINT and USER (the drop-in
// before %U: the uid is then looked up with getpwnam, as sshd did; no answer, no keys).
// A second argument of digits only is a uid (a fingerprint never is).
//
// Two programs are built from this file. `authorized-keys`, the one the drop-in runs, is
// linked statically (static-pie): sshd starts it for every key a client offers, and loading
// libc.so costs about as much as all of its work. It has no NSS (static glibc would load the
// installed glibc's NSS modules into a binary built against another), so the forms without a
// uid run `authorized-keys-nss` from the same directory, the same program linked dynamically
// (PORTAL_KEYS_HELPER_NSS), which looks the name up.
//
// Paths other than the defaults (/run/portal-keyd/login.sock, the directory /run/portal-keyd/login-state):
//   authorized-keys [--socket=PATH] [--state=PATH] -- USER [UID] [FINGERPRINT]
// Options count only in front of a "--" argument: sshd's %u is whatever user name the client
// sent ("--socket=/tmp/x" included), so without "--" every argument is positional. The
// environment variables PORTAL_KEYD_LOGIN_SOCKET / PORTAL_KEYD_STATE_DIR (tests; sshd runs
// the command with a clean environment) apply when no option is given.
#include <cerrno>
#include <charconv>
#include <climits>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <unistd.h>

#if PORTAL_KEYS_HELPER_NSS
#include "pam_module/local_identity.h"
#endif
#include "shared/ipc/framing.h"
#include "shared/ipc/login_client.h"
#include "shared/ipc/state_dir.h"

namespace {

using namespace portal::ipc;

void warn(std::string_view what) {
    std::string line = "authorized-keys: ";
    line += what.substr(0, 400);
    line += '\n';
    // Best effort: stderr may be closed.
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}

const char* env_or(const char* name, const char* fallback) {
    const char* v = secure_getenv(name);
    return v && *v ? v : fallback;
}

// A key line goes verbatim into sshd's authorized_keys parser: one line each, never a
// newline inside (that would let a value smuggle in options or extra keys).
bool printable_line(const std::string& line) {
    return !line.empty() && line.find_first_of(std::string_view("\n\r\0", 3)) == std::string::npos;
}

struct Args {
    std::string socket, state, user;
    std::optional<uid_t> uid;  // sshd's %U
    std::optional<std::string> fingerprint;
};

// %U: a decimal uid, nothing else.
std::optional<uid_t> parse_uid(std::string_view s) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    std::uint32_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return static_cast<uid_t>(v);
}

// nullopt on misuse. Options only before the first "--" (see the top of the file).
std::optional<Args> parse_args(int argc, char** argv) {
    Args a{env_or("PORTAL_KEYD_LOGIN_SOCKET", kDefaultLoginSocket), env_or("PORTAL_KEYD_STATE_DIR", kDefaultStateDir),
           {}, {}, {}};
    int first = 1;  // the first positional argument
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) != "--") continue;
        for (int o = 1; o < i; ++o) {
            const std::string_view opt = argv[o];
            if (opt.starts_with("--socket=") && opt.size() > 9 && opt[9] == '/') {
                a.socket = opt.substr(9);
            } else if (opt.starts_with("--state=") && opt.size() > 8 && opt[8] == '/') {
                a.state = opt.substr(8);
            } else {
                warn("unknown option (or not an absolute path): " + std::string(opt.substr(0, 100)));
                return std::nullopt;
            }
        }
        first = i + 1;
        break;
    }
    const int positional = argc - first;
    if (positional < 1 || positional > 3 || !*argv[first]) return std::nullopt;
    a.user = argv[first];
    int next = first + 1;
    if (positional == 3 || (positional == 2 && parse_uid(argv[next]))) {
        a.uid = parse_uid(argv[next++]);
        if (!a.uid) return std::nullopt;
    }
    if (next < argc && *argv[next]) a.fingerprint = argv[next];
    return a;
}

// The uid sshd resolved for the name: %U, or for the drop-in without %U the uid NSS gives
// here (the lookup sshd made a moment ago; only authorized-keys-nss gets that far).
std::optional<uid_t> resolved_uid(const Args& args) {
    if (args.uid) return args.uid;
#if PORTAL_KEYS_HELPER_NSS
    const auto local = portal::login_path::resolve_user(args.user);
    if (local.found()) return local.uid;
#endif
    return std::nullopt;
}

// Whether the name sshd resolved is the member's account.
bool same_uid(const Args& args, const GetAuthorizedKeysReply& reply) {
    const std::optional<uid_t> resolved = resolved_uid(args);
    if (!reply.uid || !resolved || *resolved != *reply.uid) {
        warn("not printing the keys of portal user " + args.user.substr(0, 100) + " (uid " +
             (reply.uid ? std::to_string(*reply.uid) : std::string("unknown")) + "): sshd's account has uid " +
             (resolved ? std::to_string(*resolved) : std::string("unknown")));
        return false;
    }
    return true;
}

#if !PORTAL_KEYS_HELPER_NSS
// The form without %U: hands the same arguments and environment to authorized-keys-nss,
// beside this program (sshd checked this directory's ownership when it ran us). Returns only
// when that fails: then no keys, and a message that says how to avoid the extra program.
void run_nss_helper(char** argv) {
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof self - 1 || self[0] != '/') {  // none, or cut short
        warn("cannot find this program's directory (/proc/self/exe): no keys without %U in AuthorizedKeysCommand");
        return;
    }
    std::string path(self, static_cast<std::size_t>(n));
    path.erase(path.rfind('/') + 1);
    path += "authorized-keys-nss";
    argv[0] = path.data();
    ::execv(path.c_str(), argv);
    warn("cannot run " + path + " (" + std::strerror(errno) + "): no keys without %U in AuthorizedKeysCommand");
}
#endif

}  // namespace

int main(int argc, char** argv) {
    // sshd may close the pipe as soon as it found the key: no SIGPIPE, EPIPE is fine.
    std::signal(SIGPIPE, SIG_IGN);
    const auto args = parse_args(argc, argv);
    if (!args) {
        warn("usage: authorized-keys [--socket=PATH] [--state=PATH] -- USER [UID] [FINGERPRINT]");
        return 0;
    }
#if !PORTAL_KEYS_HELPER_NSS
    if (!args->uid) {
        run_nss_helper(argv);
        return 0;
    }
#endif
    const std::string_view user = args->user;
    const std::optional<std::string>& fingerprint = args->fingerprint;

    try {
        const LoginClient client(ClientOptions{args->socket});
        GetAuthorizedKeysReply reply;
        auto online = client.get_authorized_keys(user, fingerprint ? std::optional<std::string_view>(*fingerprint)
                                                                   : std::nullopt);
        if (online.ok()) {
            reply = std::move(online.value);
        } else {
            warn("portal-keyd did not answer (" + online.error + "); using the state directory");
            std::string error;
            auto loaded = read_state_dir(args->state, user, error, std::time(nullptr));
            if (!loaded) {
                warn(error);
                return 0;
            }
            reply = authorized_keys_for(loaded->state, user, fingerprint, policy_of(loaded->state),
                                        StateSource{true, loaded->expired});
        }

        if (!reply.keys.empty() && !same_uid(*args, reply)) return 0;

        std::string out;
        for (const auto& line : reply.keys) {
            if (!printable_line(line)) continue;
            out += line;
            out += '\n';
        }
        if (!out.empty()) {
            const auto r = write_all(STDOUT_FILENO, out, Deadline::after(std::chrono::seconds(10)));
            if (!r && r.status != IoStatus::closed) warn("write: " + std::string(to_string(r.status)));
        }
    } catch (const std::exception& e) {
        warn(e.what());
    }
    return 0;
}
