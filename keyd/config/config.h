// portal-keyd.toml: every path the daemon uses is configurable so tests and the demo
// run it unprivileged in a temp dir. Unknown keys and bad values are errors with a location.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/model.h"

namespace portal::config {

struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline constexpr const char* kSystemRuntimeDirectory = "/run/portal-keyd";

struct Config {
    // [daemon]
    std::filesystem::path state_directory = "/var/lib/portal-keyd";
    std::filesystem::path runtime_directory = kSystemRuntimeDirectory;
    std::filesystem::path api_socket;    // default <runtime_directory>/api.sock
    std::filesystem::path login_socket;  // default <runtime_directory>/login.sock
    std::filesystem::path database;      // default <state_directory>/portal.db
    std::filesystem::path secret_key;    // default <state_directory>/tfa.key (0600, root)
    std::string log_level = "info";      // debug, info, warning, error
    // [portal] empty url = authority mode (the embedded store is the portal); else this server
    // is an agent that follows the portal at `url` (keyd/sync/).
    std::string portal_url;                    // "https://portal.example:8443"
    std::string portal_pin;                    // "sha256//<base64>" (portal-keyd --print-pin)
    std::filesystem::path portal_ca_file;      // or a CA bundle; neither: the system CA store
    std::filesystem::path portal_token_file;   // the host token, 0600 root; default <state_directory>/host-token
    std::chrono::seconds portal_offline_grace{7 * 86400};  // members log in this long after the portal's last answer
    std::chrono::seconds portal_poll_wait{60};             // each long-poll's wait=
    std::chrono::milliseconds portal_retry_max{2000};      // backoff ceiling (the portal's Retry-After may say more)
    std::chrono::milliseconds portal_tfa_timeout{3000};    // a TOTP check at the portal
    std::chrono::seconds portal_request_timeout{10};       // a state request; a long-poll gets poll_wait more
    // url, pin and ca_file came from joined_portal_file() (portalctl join), not from the file.
    bool portal_joined = false;
    std::string portal_host_id;  // what the portal called this host at the join ("" otherwise)
    // [users]
    std::uint32_t uid_min = 200000;
    std::uint32_t uid_max = 299999;
    // [store] the change log (keyd/store/change_log.h): revisions kept at most, and the age
    // past which older revisions go (the newest 1,000 always stay)
    std::uint64_t store_change_log_revisions = 100000;
    std::chrono::seconds store_change_log_max_age{30 * 86400};
    // [tfa]
    std::string tfa_issuer = "portal-keyd";
    int tfa_max_failures = 5;
    std::chrono::seconds tfa_failure_window{300};
    std::chrono::seconds tfa_lockout{300};
    std::chrono::seconds tfa_enrolment_ttl{600};
    // [api]
    std::size_t api_max_body_bytes = 1024 * 1024;
    std::chrono::seconds api_request_timeout{10};
    std::size_t api_max_connections_per_uid = 16;  // root is not capped (it has a reserve)
    std::chrono::seconds api_session_lifetime{12 * 3600};  // portal sessions (POST /v1/auth/sessions)
    int api_sign_in_max_failures = 5;                // wrong passwords/codes per email within
    int api_sign_in_max_failures_per_address = 20;   //   sign_in_lockout, and per client address,
    std::chrono::seconds api_sign_in_lockout{900};   //   lock sign-in for sign_in_lockout
    // [listen] the API over HTTPS (keyd/api/https_server.h): off while `https` is empty
    std::vector<std::string> listen_https;         // "0.0.0.0:8443", "[::]:8443"
    std::filesystem::path tls_certificate;         // both or neither; neither: a self-signed
    std::filesystem::path tls_private_key;         //   pair in <state_directory>/tls
    std::size_t https_max_connections = 1024;
    std::size_t https_max_connections_per_address = 256;
    std::chrono::seconds https_handshake_timeout{10};
    std::chrono::seconds https_idle_timeout{30};
    std::int64_t https_requests_per_minute_per_address = 1200;    // NAT: many hosts behind one
    std::int64_t https_requests_per_minute_per_credential = 600;
    // [login] what this server lets in (docs/LOGIN_PROTOCOL.md)
    std::string login_account_id;                           // empty: the oldest account
    std::vector<Role> login_roles{Role::owner, Role::manager};  // roles that may log in
    std::string login_helper_user = "portal-keyd-keys";     // AuthorizedKeysCommandUser, may use the login socket
    std::filesystem::path login_state_dir;                  // default <runtime_directory>/login-state
    std::chrono::seconds login_fallback_grace{3600};        // how long the fallback stays valid
    bool login_apply_ip_allowlist = false;                  // the account's IP allowlist for SSH too
    // [userdb] identities for nss-systemd (keyd/userdb/). A private instance (runtime_directory
    // moved, as tests and the demo run it) defaults to directories under its runtime_directory
    // and to terminate_sessions = false: it must not publish users to the whole machine, nor
    // signal processes of uids that other instances hand out too.
    std::filesystem::path userdb_dropin_directory = "/run/userdb";
    std::filesystem::path userdb_socket_directory = "/run/systemd/userdb";
    std::string userdb_service = "io.portal.keyd";
    std::string userdb_tfa_group = "portal-2fa";
    std::uint32_t userdb_tfa_group_gid = 59990;  // used when the group does not exist locally
    std::filesystem::path userdb_home_base = "/home";
    std::filesystem::path userdb_shell = "/bin/bash";
    // Drop-ins in dropin_directory only for the members who logged in here most recently:
    // at most this many, none older than dropin_max_age (everyone else from the provider).
    std::uint64_t userdb_dropin_members = 1000;
    std::chrono::seconds userdb_dropin_max_age{30 * 86400};
    std::map<Role, std::vector<std::string>> userdb_role_groups{
        {Role::owner, {"sudo"}}, {Role::manager, {}}, {Role::support, {}}};
    // [revoke]
    bool revoke_terminate_sessions = true;
    // [notifications] security notices to the accounts' security contacts (keyd/notify/):
    // handed to this MTA program (sendmail -t -i); "" never sends (they are kept, visible in
    // portalctl notifications). from: the sender, default portal-keyd@<host name>.
    std::filesystem::path notifications_sendmail = "/usr/sbin/sendmail";
    std::string notifications_from;  // end the sessions of members who lose access

    bool system_instance() const { return runtime_directory == kSystemRuntimeDirectory; }
    bool authority_mode() const { return portal_url.empty(); }
    std::filesystem::path self_signed_tls_directory() const { return state_directory / "tls"; }
    // What `portalctl join` keeps ([portal] url, pin, ca_file), applied when the configuration
    // file names no portal itself; `portalctl leave` removes it.
    std::filesystem::path joined_portal_file() const { return state_directory / "portal.toml"; }
};

// Parses TOML text; `origin` names the source in error messages ("file:line:col: key: why").
Config parse_config(const std::string& text, const std::string& origin);
// Reads and parses a file; a missing file at the default path yields the defaults.
// The [portal] section `portalctl join` keeps (url, pin, ca_file, host_id and nothing else), applied to
// `c`; throws ConfigError naming `origin` and the field.
void apply_joined_portal(Config& c, const std::string& text, const std::string& origin);

Config load_config(const std::filesystem::path& path, bool must_exist);

}  // namespace portal::config
