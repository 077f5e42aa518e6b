// One end-to-end world: inside the test binary's private mount namespace (main.cpp), fresh
// tmpfs over /run/userdb, /run/systemd/userdb and /home; a temp dir holding every path; the
// real portal-keyd on a temp config; a real sshd on 127.0.0.1:<free port> whose config mirrors
// config/sshd_config.d/portal-keyd.conf and whose PAM stack (pam_wrapper) mirrors
// config/pam.d/sshd.example; and the portal driven over the daemon's API socket.
// Everything is torn down in the destructor, also when a REQUIRE threw.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/e2e/support/api.h"
#include "tests/e2e/support/process.h"
#include "tests/e2e/support/ssh_client.h"

namespace portal::e2e {

class Authority;

extern int failed_assertions;  // main.cpp

// The keys helper as sshd runs it: a copy under E2E_TMP made by main.cpp (the build tree may
// not be reachable by sshd's AuthorizedKeysCommandUser).
inline std::filesystem::path keys_helper() { return std::filesystem::path(E2E_TMP) / "bin" / "authorized-keys"; }

struct WorldOptions {
    int tfa_max_failures = 5;
    int tfa_failure_window = 300;
    int tfa_lockout = 3;
    int fallback_grace = 3600;
    bool terminate_sessions = true;
    // Local users added (inside the namespace only) to a bind-mounted copy of /etc/passwd and
    // /etc/group (<dir>/passwd and <dir>/group, edited in place to add more later), e.g.
    // {"carol"}: uids from 4201, home /home/<name>, shell /bin/sh.
    std::vector<std::string> extra_local_users;
    // Lines added to a copy of /etc/login.defs (e.g. "HOME_MODE 0750"), and files (name,
    // content) making up a private /etc/skel: both bind-mounted inside the namespace only
    // when set, for the home directories pam_portal.so makes.
    std::vector<std::string> login_defs_lines;
    std::vector<std::pair<std::string, std::string>> skel_files;
    bool start = true;  // start the daemon, create the account, start sshd
    // How many uids the World's [users] range holds (users.uid_min..uid_min + uid_count - 1),
    // e.g. more than 100 for an account seeded with thousands of members.
    std::uint32_t uid_count = 100;
    // How long start_daemon() waits for it to answer (a first start on a big seeded store
    // writes one fallback file per member, each fsync'd: seconds where /run is a disk).
    std::chrono::milliseconds daemon_start_timeout = 20000ms;
    // An sshd that does not route 2FA members through the code step: the drop-in without its
    // Match Group block and keyboard-interactive on for everyone (a sysadmin's own config, or
    // a membership sshd does not see yet). pam_portal.so must hold the line by itself.
    bool sshd_without_2fa_match = false;
    // [login] apply_ip_allowlist: the account's IP allowlist limits SSH logins too.
    bool apply_ip_allowlist = false;
    // [login] roles: the roles that may log in (empty: the daemon's default, owner and manager).
    std::vector<std::string> login_roles;
};

struct Member {
    std::string id, email, role, unix_name;
    uid_t uid = 0;
    std::filesystem::path key;  // private key file (ed25519, no passphrase)
    std::string key_md5;        // the API's key id
    std::string tfa_secret;     // base32; empty without 2FA
    std::int64_t last_step = -1;  // the last TOTP time step the daemon accepted (or spent)
};

class World {
public:
    explicit World(const std::string& name, WorldOptions options = {});
    ~World();
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    // --- processes ---
    void start_daemon();
    int stop_daemon(int sig = 15);  // SIGTERM (or `sig`: 9 for a crash); the exit code
    bool daemon_running() { return daemon_.running(); }
    pid_t daemon_pid() const { return daemon_.pid(); }
    void start_sshd();
    pid_t sshd_pid() const { return sshd_.pid(); }
    void create_account();
    // Acts on an account made outside the API (e.g. written into database() before the daemon
    // first started) instead of create_account().
    void use_account(const std::string& id) { account_id_ = id; }
    // The World's daemon (started, no account of its own) joins `portal` as its agent
    // (portalctl join as root on its socket) and has synced; from then on the portal helpers
    // below (add_member, add_key, enrol_tfa, set_status...) act at the authority.
    void join(const Authority& portal);

    // --- the portal ---
    const Api& api() const { return api_; }
    const std::string& account_id() const { return account_id_; }
    Member add_member(const std::string& email, const std::string& role, bool with_key = true);
    void add_key(Member& m);                         // a fresh key, as root
    void remove_key(const Member& m);                // DELETE /v1/ssh_keys/{md5}
    void enrol_tfa(Member& m);                       // enable + confirm as the member's uid
    void set_status(const Member& m, const std::string& status);
    void remove_member(const Member& m);
    void set_enforce_2fa(bool on);
    // A code the daemon will accept now and has not accepted before (waits for the next time
    // step when needed); recorded as spent.
    std::string next_code(Member& m);
    // The code the daemon accepted last (a replay).
    std::string spent_code(const Member& m) const;
    // A code valid for no step near now.
    std::string wrong_code(const Member& m) const;

    // --- logins ---
    std::unique_ptr<SshClient> client() const { return std::make_unique<SshClient>(sshd_port_, host_key_pub()); }
    // libssh login; `code` answers the verification prompt (nullopt: no code known).
    LoginResult login(const std::string& user, const std::filesystem::path& key,
                      std::function<std::optional<std::string>()> code = {}) const;
    LoginResult login(Member& m);  // with next_code(m) when the member has 2FA
    // The publickey step alone: "success", "partial" (a code would be asked next), "denied"...
    std::string probe_key(const std::string& user, const std::filesystem::path& key) const;
    // OpenSSH's ssh: runs `command`; the verification code (if any) through SSH_ASKPASS.
    // `from`: the local address the client binds to (ssh -b), e.g. "127.0.0.2".
    CommandResult openssh(const std::string& user, const std::filesystem::path& key, const std::string& command,
                          const std::optional<std::string>& code = std::nullopt, const std::string& from = "") const;
    // A key root logs in with: listed in <dir>/keys/root.keys (sshd's AuthorizedKeysFile).
    const std::filesystem::path& root_key() const { return root_key_; }

    // --- paths and diagnostics ---
    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path runtime_dir() const { return dir_ / "run"; }
    std::filesystem::path database() const { return dir_ / "state" / "portal.db"; }
    std::uint32_t uid_min() const { return uid_min_; }
    std::uint32_t uid_max() const { return uid_min_ + options_.uid_count - 1; }
    std::filesystem::path api_socket() const { return runtime_dir() / "api.sock"; }
    std::filesystem::path login_socket() const { return runtime_dir() / "login.sock"; }
    // The fallback: a directory with a header (its mtime: last confirmed) and one file per member.
    std::filesystem::path state_dir() const { return runtime_dir() / "login-state"; }
    std::filesystem::path state_header() const { return state_dir() / "account.json"; }
    std::filesystem::path userdb_socket() const { return "/run/systemd/userdb/io.portal.keyd"; }
    std::filesystem::path host_key_pub() const { return dir_ / "ssh_host_ed25519_key.pub"; }
    int sshd_port() const { return sshd_port_; }
    std::string daemon_log() const { return read_file(dir_ / "daemon.log"); }
    std::string sshd_log() const { return read_file(dir_ / "sshd.log"); }
    // The tails of both logs, for INFO().
    std::string diagnostics() const;
    // AddressSanitizer/LeakSanitizer/UBSan reports of the daemon, sshd (with the PAM module)
    // and the keys helper; "" when none (always "" outside sanitizer builds).
    std::string sanitizer_reports() const;
    // A fresh ed25519 key pair in the world dir.
    std::filesystem::path make_key(const std::string& name) const;

private:
    void mount_namespace_dirs();
    void bind_over(const std::filesystem::path& source, const std::filesystem::path& target);
    void write_config();
    void write_sshd_config();

    std::string name_;
    WorldOptions options_;
    std::filesystem::path dir_;
    std::vector<std::filesystem::path> mounts_;  // unmounted in reverse order
    Api api_;
    Process daemon_;
    Process sshd_;
    int sshd_port_ = 0;
    std::uint32_t uid_min_ = 0;
    std::string account_id_;
    std::filesystem::path root_key_;
    mutable int serial_ = 0;  // key file names
    int failures_at_start_ = 0;
};

}  // namespace portal::e2e
