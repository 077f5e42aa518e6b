#include "tests/e2e/support/ssh_client.h"

#include <libssh/libssh.h>

#include <cstring>
#include <stdexcept>

namespace portal::e2e {

using Clock = std::chrono::steady_clock;

namespace {

struct KeyDeleter {
    void operator()(ssh_key k) const { ssh_key_free(k); }
};
using Key = std::unique_ptr<std::remove_pointer_t<ssh_key>, KeyDeleter>;

std::string auth_name(int rc) {
    switch (rc) {
        case SSH_AUTH_SUCCESS: return "success";
        case SSH_AUTH_PARTIAL: return "partial";
        case SSH_AUTH_DENIED: return "denied";
        case SSH_AUTH_INFO: return "info";
        case SSH_AUTH_AGAIN: return "again";
        default: return "error";
    }
}

}  // namespace

std::string to_string(AuthOutcome o) {
    switch (o) {
        case AuthOutcome::success: return "success";
        case AuthOutcome::denied: return "denied";
        default: return "error";
    }
}

std::string LoginResult::transcript() const {
    std::string s = "outcome=" + to_string(outcome) + " publickey=" + publickey +
                    " code_prompts=" + std::to_string(code_prompts);
    for (const auto& line : said) s += "\n  | " + line;
    return s;
}

bool LoginResult::said_contains(const std::string& needle) const {
    for (const auto& line : said)
        if (line.find(needle) != std::string::npos) return true;
    return false;
}

struct SshClient::Impl {
    int port;
    std::filesystem::path host_key_pub;
    ssh_session session = nullptr;
    ssh_channel channel = nullptr;  // the one start() opened

    void close_channel() {
        if (!channel) return;
        if (ssh_channel_is_open(channel)) ssh_channel_close(channel);
        ssh_channel_free(channel);
        channel = nullptr;
    }
    void close() {
        close_channel();
        if (session) {
            if (ssh_is_connected(session)) ssh_disconnect(session);
            ssh_free(session);
            session = nullptr;
        }
    }
};

SshClient::SshClient(int port, std::filesystem::path host_key_pub) : impl_(std::make_unique<Impl>()) {
    impl_->port = port;
    impl_->host_key_pub = std::move(host_key_pub);
}

SshClient::~SshClient() { impl_->close(); }

void SshClient::disconnect() { impl_->close(); }

LoginResult SshClient::login(const LoginOptions& o) {
    impl_->close();
    LoginResult r;
    auto note = [&r](std::string s) {
        if (!s.empty()) r.said.push_back(std::move(s));
    };
    ssh_session s = ssh_new();
    if (!s) throw std::runtime_error("ssh_new failed");
    impl_->session = s;
    int port = impl_->port;
    long timeout_s = std::max<long>(1, static_cast<long>(o.timeout.count() / 1000));
    int no = 0;
    int verbosity = SSH_LOG_NOLOG;
    ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
    ssh_options_set(s, SSH_OPTIONS_USER, o.user.c_str());
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);  // never ~/.ssh/config
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s);
    ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
    if (ssh_connect(s) != SSH_OK) {
        note(std::string("connect: ") + ssh_get_error(s));
        return r;
    }

    // Pin the host key: the test's own sshd and nothing else.
    ssh_key raw = nullptr;
    if (ssh_get_server_publickey(s, &raw) != SSH_OK) {
        note("no server host key");
        return r;
    }
    Key server(raw);
    raw = nullptr;
    if (ssh_pki_import_pubkey_file(impl_->host_key_pub.c_str(), &raw) != SSH_OK)
        throw std::runtime_error("cannot read " + impl_->host_key_pub.string());
    Key pinned(raw);
    if (ssh_key_cmp(server.get(), pinned.get(), SSH_KEY_CMP_PUBLIC) != 0) {
        note("host key mismatch");
        return r;
    }

    raw = nullptr;
    if (ssh_pki_import_privkey_file(o.key.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK)
        throw std::runtime_error("cannot read key " + o.key.string());
    Key priv(raw);

    auto banner = [&] {
        if (char* b = ssh_get_issue_banner(s)) {
            note(std::string("banner: ") + b);
            ssh_string_free_char(b);
        }
    };

    int rc = SSH_AUTH_PARTIAL;
    if (o.skip_publickey) {
        r.publickey = "skipped";
    } else {
        rc = ssh_userauth_publickey(s, nullptr, priv.get());
        r.publickey = auth_name(rc);
    }
    if (rc == SSH_AUTH_PARTIAL && !o.publickey_only) {
        rc = ssh_userauth_kbdint(s, nullptr, nullptr);
        const auto deadline = Clock::now() + o.timeout;
        while (rc == SSH_AUTH_INFO && Clock::now() < deadline) {
            const char* name = ssh_userauth_kbdint_getname(s);
            const char* instruction = ssh_userauth_kbdint_getinstruction(s);
            if (name && *name) note(std::string("kbdint name: ") + name);
            if (instruction && *instruction) note(std::string("kbdint instruction: ") + instruction);
            const int n = ssh_userauth_kbdint_getnprompts(s);
            for (int i = 0; i < n; ++i) {
                char echo = 0;
                const char* p = ssh_userauth_kbdint_getprompt(s, static_cast<unsigned>(i), &echo);
                const std::string prompt = p ? p : "";
                note("kbdint prompt: " + prompt);
                std::optional<std::string> answer;
                if (prompt.find("code") != std::string::npos || prompt.find("Code") != std::string::npos) {
                    ++r.code_prompts;
                    if (o.code) answer = o.code();
                }
                ssh_userauth_kbdint_setanswer(s, static_cast<unsigned>(i), answer ? answer->c_str() : "");
            }
            rc = ssh_userauth_kbdint(s, nullptr, nullptr);
        }
        note("keyboard-interactive: " + auth_name(rc));
    }
    banner();
    if (rc == SSH_AUTH_SUCCESS) {
        r.outcome = AuthOutcome::success;
    } else {
        r.outcome = rc == SSH_AUTH_DENIED ? AuthOutcome::denied : AuthOutcome::error;
        const char* err = ssh_get_error(s);
        if (err && *err) note(std::string("error: ") + err);
        // sshd drops the connection after a PAM account failure: either way, refused.
        impl_->close();
    }
    return r;
}

ExecResult SshClient::exec(const std::string& command, std::chrono::milliseconds timeout) {
    ExecResult r;
    ssh_session s = impl_->session;
    if (!s) return r;
    ssh_channel ch = ssh_channel_new(s);
    if (!ch) return r;
    if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
        r.err = std::string("exec failed: ") + ssh_get_error(s);
        ssh_channel_free(ch);
        return r;
    }
    const auto deadline = Clock::now() + timeout;
    char buf[4096];
    while (Clock::now() < deadline) {
        const int n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, 100);
        if (n > 0) r.out.append(buf, static_cast<std::size_t>(n));
        const int e = ssh_channel_read_nonblocking(ch, buf, sizeof buf, 1);
        if (e > 0) r.err.append(buf, static_cast<std::size_t>(e));
        if (n == SSH_ERROR) break;
        if (ssh_channel_is_eof(ch) && n == 0) break;
    }
    for (int e; (e = ssh_channel_read_nonblocking(ch, buf, sizeof buf, 1)) > 0;) r.err.append(buf, static_cast<std::size_t>(e));
    ssh_channel_send_eof(ch);
    r.exit_status = ssh_channel_get_exit_status(ch);
    ssh_channel_close(ch);
    ssh_channel_free(ch);
    return r;
}

bool SshClient::start(const std::string& command) {
    ssh_session s = impl_->session;
    if (!s) return false;
    impl_->close_channel();
    ssh_channel ch = ssh_channel_new(s);
    if (!ch) return false;
    if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
        ssh_channel_free(ch);
        return false;
    }
    impl_->channel = ch;
    return true;
}

bool SshClient::wait_channel_closed(std::chrono::milliseconds timeout) {
    ssh_channel ch = impl_->channel;
    if (!ch) return true;
    const auto deadline = Clock::now() + timeout;
    char buf[1024];
    while (Clock::now() < deadline) {
        const int n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, 100);
        if (n == SSH_ERROR || ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch)) return true;
        if (!ssh_is_connected(impl_->session)) return true;
    }
    return false;
}

}  // namespace portal::e2e
