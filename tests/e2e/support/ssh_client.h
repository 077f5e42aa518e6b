// An SSH client on libssh for the end-to-end tests: publickey, then keyboard-interactive
// answering "Verification code:" (shared/recipes/kbd_client.cpp), with the server's host key
// pinned, everything the server said recorded (banner, kbd-int names/instructions/prompts),
// commands, and a channel kept open to watch a session being ended.
#pragma once
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace portal::e2e {

using namespace std::chrono_literals;

enum class AuthOutcome { success, denied, error };
std::string to_string(AuthOutcome o);

struct LoginResult {
    AuthOutcome outcome = AuthOutcome::error;
    std::string publickey;          // "success", "partial", "denied", "error"
    int code_prompts = 0;           // how many times a code was asked for
    std::vector<std::string> said;  // banner, kbd-int names/instructions/prompts, errors, in order
    std::string transcript() const;  // all of it, one line each
    bool said_contains(const std::string& needle) const;
    bool ok() const { return outcome == AuthOutcome::success; }
};

struct LoginOptions {
    std::string user;
    std::filesystem::path key;  // private key file
    // Called at each "Verification code" prompt (so a TOTP code is computed as late as
    // possible); nullopt: no code to give (the prompt is answered with an empty line).
    std::function<std::optional<std::string>()> code;
    std::chrono::milliseconds timeout{10000};
    // Stop after the publickey step (a probe: was the key accepted?); outcome is then
    // success only when the key alone was enough.
    bool publickey_only = false;
    // Go straight to keyboard-interactive, without offering the key first.
    bool skip_publickey = false;
};

struct ExecResult {
    int exit_status = -1;
    std::string out;  // stdout
    std::string err;  // stderr (sshd: "Could not chdir to home directory ..." and the like)
};

class SshClient {
public:
    // host key pin: the server's public key file (.pub)
    SshClient(int port, std::filesystem::path host_key_pub);
    ~SshClient();
    SshClient(const SshClient&) = delete;
    SshClient& operator=(const SshClient&) = delete;

    // Connects, checks the host key, authenticates. The session stays open on success.
    LoginResult login(const LoginOptions& options);
    // After a successful login: runs `command`, waits for it (bounded).
    ExecResult exec(const std::string& command, std::chrono::milliseconds timeout = 10000ms);
    // Starts `command` on a channel and leaves it running.
    bool start(const std::string& command);
    // Whether the channel started by start() is closed (EOF or closed by the server) within
    // `timeout`; reads and discards its output meanwhile.
    bool wait_channel_closed(std::chrono::milliseconds timeout);
    void disconnect();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace portal::e2e
