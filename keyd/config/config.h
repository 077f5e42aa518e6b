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

namespace portal::config {

struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Config {
    // [daemon]
    std::filesystem::path state_directory = "/var/lib/portal-keyd";
    std::filesystem::path runtime_directory = "/run/portal-keyd";
    std::filesystem::path api_socket;    // default <runtime_directory>/api.sock
    std::filesystem::path login_socket;  // default <runtime_directory>/login.sock
    std::filesystem::path database;      // default <state_directory>/portal.db
    std::filesystem::path secret_key;    // default <state_directory>/tfa.key (0600, root)
    std::string log_level = "info";      // debug, info, warning, error
    // [portal] empty url = authority mode (the embedded store is the portal)
    std::string portal_url;
    // [users]
    std::uint32_t uid_min = 200000;
    std::uint32_t uid_max = 299999;
    // [tfa]
    std::string tfa_issuer = "portal-keyd";
    int tfa_max_failures = 5;
    std::chrono::seconds tfa_failure_window{300};
    std::chrono::seconds tfa_lockout{300};
    std::chrono::seconds tfa_enrolment_ttl{600};
    // [api]
    std::size_t api_max_body_bytes = 1024 * 1024;
    std::chrono::seconds api_request_timeout{10};

    bool authority_mode() const { return portal_url.empty(); }
};

// Parses TOML text; `origin` names the source in error messages ("file:line:col: key: why").
Config parse_config(const std::string& text, const std::string& origin);
// Reads and parses a file; a missing file at the default path yields the defaults.
Config load_config(const std::filesystem::path& path, bool must_exist);

}  // namespace portal::config
