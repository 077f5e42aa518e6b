// sshd's AuthorizedKeysCommand helper: `authorized-keys USER [FINGERPRINT]` prints the keys
// sshd may accept for a portal user (only the offered one when sshd passes %f). It asks
// portal-keyd over the login socket and falls back to the on-disk login state when the
// daemon does not answer. Non-portal and refused users get no output. Always exits 0: sshd
// ignores the output of a failing command, and stderr is discarded by sshd (kept for tests).
//
// Paths other than the defaults (/run/portal-keyd/login.sock, /run/portal-keyd/login-state.json):
//   authorized-keys [--socket=PATH] [--state=PATH] -- USER [FINGERPRINT]
// Options count only in front of a "--" argument: sshd's %u is whatever user name the client
// sent ("--socket=/tmp/x" included), so without "--" every argument is positional. The
// environment variables PORTAL_KEYD_LOGIN_SOCKET / PORTAL_KEYD_STATE_FILE (tests; sshd runs
// the command with a clean environment) apply when no option is given.
#include <csignal>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <unistd.h>

#include "shared/ipc/framing.h"
#include "shared/ipc/login_client.h"
#include "shared/ipc/state_file.h"

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
    std::optional<std::string> fingerprint;
};

// nullopt on misuse. Options only before the first "--" (see the top of the file).
std::optional<Args> parse_args(int argc, char** argv) {
    Args a{env_or("PORTAL_KEYD_LOGIN_SOCKET", kDefaultLoginSocket), env_or("PORTAL_KEYD_STATE_FILE", kDefaultStateFile),
           {}, {}};
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
    if (positional < 1 || positional > 2 || !*argv[first]) return std::nullopt;
    a.user = argv[first];
    if (positional == 2 && *argv[first + 1]) a.fingerprint = argv[first + 1];
    return a;
}

}  // namespace

int main(int argc, char** argv) {
    // sshd may close the pipe as soon as it found the key: no SIGPIPE, EPIPE is fine.
    std::signal(SIGPIPE, SIG_IGN);
    const auto args = parse_args(argc, argv);
    if (!args) {
        warn("usage: authorized-keys [--socket=PATH] [--state=PATH] -- USER [FINGERPRINT]");
        return 0;
    }
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
            warn("portal-keyd did not answer (" + online.error + "); using the state file");
            std::string error;
            auto loaded = read_state_file(args->state, error, std::time(nullptr), user);
            if (!loaded) {
                warn(error);
                return 0;
            }
            reply = authorized_keys_for(loaded->state, user, fingerprint, policy_of(loaded->state),
                                        StateSource{true, loaded->expired});
        }

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
