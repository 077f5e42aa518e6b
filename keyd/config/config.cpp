#include "keyd/config/config.h"
#include "keyd/net/listen_address.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "shared/unix_name.h"

namespace portal::config {
namespace {

std::string where(const std::string& origin, const toml::source_region& src) {
    std::ostringstream o;
    o << origin;
    if (src.begin.line) o << ':' << src.begin.line << ':' << src.begin.column;
    return o.str();
}

[[noreturn]] void fail(const std::string& origin, const toml::node& n, const std::string& key, const std::string& why) {
    throw ConfigError(where(origin, n.source()) + ": " + key + ": " + why);
}

// Reads one table, refusing keys it does not know.
class Section {
public:
    Section(const toml::table& root, std::string name, const std::string& origin)
        : name_(std::move(name)), origin_(origin) {
        if (auto* node = root.get(name_)) {
            table_ = node->as_table();
            if (!table_) fail(origin_, *node, name_, "must be a table");
        }
    }
    ~Section() = default;

    void path(const char* key, std::filesystem::path& out) {
        std::string s = out.string();
        string(key, s);
        if (s != out.string()) {
            if (s.empty() || s.front() != '/') fail_at(key, "must be an absolute path");
            out = s;
        }
    }
    void string(const char* key, std::string& out) {
        if (auto* n = take(key)) {
            auto v = n->value<std::string>();
            if (!v) fail(origin_, *n, full(key), "must be a string");
            if (v->find('\0') != std::string::npos) fail(origin_, *n, full(key), "must not contain NUL");
            out = *v;
        }
    }
    template <class Int>
    void integer(const char* key, Int& out, std::int64_t lo, std::int64_t hi) {
        if (auto* n = take(key)) {
            // Type first: toml++'s value<int64_t>() of a float casts it, undefined behaviour
            // when it is out of range (found by config_fuzz: 2.999e+102).
            if (!n->is_integer()) fail(origin_, *n, full(key), "must be an integer");
            auto v = n->value<std::int64_t>();
            if (!v) fail(origin_, *n, full(key), "must be an integer");
            if (*v < lo || *v > hi)
                fail(origin_, *n, full(key), "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
            out = static_cast<Int>(*v);
        }
    }
    void seconds(const char* key, std::chrono::seconds& out, std::int64_t lo, std::int64_t hi) {
        std::int64_t v = out.count();
        integer(key, v, lo, hi);
        out = std::chrono::seconds(v);
    }
    void boolean(const char* key, bool& out) {
        if (auto* n = take(key)) {
            auto v = n->value<bool>();
            if (!n->is_boolean() || !v) fail(origin_, *n, full(key), "must be true or false");
            out = *v;
        }
    }
    // An array of strings, each checked by `valid` (which names what is wrong, or returns "").
    // Duplicates are refused: they are always a typo or a merge mistake.
    void strings(const char* key, std::vector<std::string>& out,
                 const std::function<std::string(const std::string&)>& valid) {
        if (auto* n = take(key)) strings_of(*n, full(key), out, valid);
    }
    void strings_of(const toml::node& n, const std::string& name, std::vector<std::string>& out,
                    const std::function<std::string(const std::string&)>& valid) {
        const auto* arr = n.as_array();
        if (!arr) fail(origin_, n, name, "must be an array of strings");
        std::vector<std::string> v;
        for (std::size_t i = 0; i < arr->size(); ++i) {
            const toml::node& e = *arr->get(i);
            const std::string at = name + "[" + std::to_string(i) + "]";
            auto s = e.value<std::string>();
            if (!e.is_string() || !s) fail(origin_, e, at, "must be a string");
            if (std::string why = valid(*s); !why.empty()) fail(origin_, e, at, why);
            if (std::find(v.begin(), v.end(), *s) != v.end()) fail(origin_, e, at, "duplicate \"" + *s + "\"");
            v.push_back(*s);
        }
        out = std::move(v);
    }
    // One string or an array of strings (each checked as by strings()).
    void string_or_strings(const char* key, std::vector<std::string>& out,
                           const std::function<std::string(const std::string&)>& valid) {
        auto* n = take(key);
        if (!n) return;
        if (!n->is_string()) return strings_of(*n, full(key), out, valid);
        const std::string v = *n->value<std::string>();
        if (std::string why = valid(v); !why.empty()) fail(origin_, *n, full(key), why);
        out = {v};
    }
    // A sub-table ([section.key]); nullptr when absent.
    const toml::table* table(const char* key) {
        if (auto* n = take(key)) {
            if (!n->as_table()) fail(origin_, *n, full(key), "must be a table");
            return n->as_table();
        }
        return nullptr;
    }
    // A key that no longer exists: refused with what replaced it (not as an "unknown key").
    void retired(const char* key, const std::string& why) {
        if (auto* n = take(key)) fail(origin_, *n, full(key), why);
    }
    const std::string& origin() const { return origin_; }
    // Any key left over is unknown: a typo must not silently become a default.
    void finish() {
        if (!table_) return;
        for (auto&& [k, v] : *table_)
            if (!seen_.count(std::string(k.str())))
                fail(origin_, v, full(std::string(k.str()).c_str()), "unknown key");
    }

private:
    const toml::node* take(const char* key) {
        seen_.insert(key);
        return table_ ? table_->get(key) : nullptr;
    }
    std::string full(const char* key) const { return name_ + "." + key; }
    [[noreturn]] void fail_at(const char* key, const std::string& why) {
        fail(origin_, *table_->get(key), full(key), why);
    }

    std::string name_;
    const std::string& origin_;
    const toml::table* table_ = nullptr;
    std::set<std::string> seen_;
};

std::string role_name_error(const std::string& s) {
    return parse_role(s) ? std::string() : "unknown role \"" + s + "\" (owner, manager, support)";
}

std::string unix_name_error(const std::string& s) {
    return is_valid_unix_name(s) ? std::string() : "\"" + s + "\" is not a valid user or group name";
}

void parse_login(const toml::table& root, const std::string& origin, Config& c) {
    Section l(root, "login", origin);
    l.string("account_id", c.login_account_id);
    std::vector<std::string> roles;
    bool roles_given = root.at_path("login.roles").node() != nullptr;
    l.strings("roles", roles, role_name_error);
    if (roles_given) {
        c.login_roles.clear();
        for (const auto& r : roles) c.login_roles.push_back(*parse_role(r));
    }
    l.string("helper_user", c.login_helper_user);
    l.path("state_dir", c.login_state_dir);
    // The fallback was one file until the per-member directory replaced it: an old setting
    // is refused rather than guessed at, since the helper's --state= and pam_portal's state=
    // must name the new directory too.
    l.retired("state_file",
              "replaced by login.state_dir (a directory with one file per member, default "
              "<runtime_directory>/login-state; the helper's --state= and pam_portal.so's state= name it too)");
    l.seconds("fallback_grace", c.login_fallback_grace, 0, 30 * 86400);
    l.boolean("apply_ip_allowlist", c.login_apply_ip_allowlist);
    l.finish();
    for (char ch : c.login_account_id)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-')
            throw ConfigError(origin + ": login.account_id: must be an account id such as \"acc_...\"");
    if (c.login_account_id.size() > 64) throw ConfigError(origin + ": login.account_id: too long");
    if (!is_valid_unix_name(c.login_helper_user))
        throw ConfigError(origin + ": login.helper_user: \"" + c.login_helper_user + "\" is not a valid user name");
}

void parse_userdb(const toml::table& root, const std::string& origin, Config& c) {
    Section u(root, "userdb", origin);
    if (!c.system_instance()) {
        c.userdb_dropin_directory = c.runtime_directory / "userdb";
        c.userdb_socket_directory = c.runtime_directory / "userdb-provider";
    }
    u.path("dropin_directory", c.userdb_dropin_directory);
    u.path("socket_directory", c.userdb_socket_directory);
    u.string("service", c.userdb_service);
    u.string("tfa_group", c.userdb_tfa_group);
    u.integer("tfa_group_gid", c.userdb_tfa_group_gid, 1000, 2147483646);
    u.path("home_base", c.userdb_home_base);
    u.path("shell", c.userdb_shell);
    u.integer("dropin_members", c.userdb_dropin_members, 0, 1000000);
    u.seconds("dropin_max_age", c.userdb_dropin_max_age, 3600, 3650LL * 86400);
    if (const toml::table* groups = u.table("role_groups")) {
        for (auto&& [k, v] : *groups) {
            const std::string key(k.str());
            auto role = parse_role(key);
            if (!role) fail(origin, v, "userdb.role_groups." + key, "unknown role (owner, manager, support)");
            u.strings_of(v, "userdb.role_groups." + key, c.userdb_role_groups[*role], unix_name_error);
        }
    }
    u.finish();
    // The service names a socket file in socket_directory and goes into every record.
    const auto& svc = c.userdb_service;
    bool ok = !svc.empty() && svc.size() <= 64 && svc.front() != '.' && svc.find("..") == std::string::npos;
    for (char ch : svc)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-') ok = false;
    if (!ok) throw ConfigError(origin + ": userdb.service: must be a name such as \"io.portal.keyd\" (letters, digits, . _ -)");
    if (!is_valid_unix_name(c.userdb_tfa_group))
        throw ConfigError(origin + ": userdb.tfa_group: \"" + c.userdb_tfa_group + "\" is not a valid group name");
    if (c.userdb_tfa_group_gid >= c.uid_min && c.userdb_tfa_group_gid <= c.uid_max)
        throw ConfigError(origin + ": userdb.tfa_group_gid: must be outside users.uid_min..uid_max (those are the members' own ids)");
    if (c.userdb_tfa_group_gid == 65534 || c.userdb_tfa_group_gid == 65535)
        throw ConfigError(origin + ": userdb.tfa_group_gid: 65534 and 65535 are reserved");
}

// https://host[:port]: no path, query, fragment or user (what the agent's client takes).
bool valid_portal_url(std::string_view url, std::string& why) {
    constexpr std::string_view scheme = "https://";
    if (url.substr(0, scheme.size()) != scheme) {
        why = "must start with https://";
        return false;
    }
    const std::string_view rest = url.substr(scheme.size());
    if (rest.empty() || rest.front() == ':') {
        why = "names no host";
        return false;
    }
    for (char ch : rest) {
        const auto u = static_cast<unsigned char>(ch);
        if (std::isalnum(u) || ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']') continue;
        why = "must be https://host[:port] with no path, query or user";
        return false;
    }
    return true;
}

bool valid_pin(std::string_view pin) {
    constexpr std::string_view prefix = "sha256//";
    if (pin.substr(0, prefix.size()) != prefix) return false;
    const std::string_view b64 = pin.substr(prefix.size());
    if (b64.size() != 44 || b64.back() != '=') return false;
    return std::all_of(b64.begin(), b64.end() - 1, [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '/';
    });
}

// TOML syntax errors as ConfigError, naming the file and line.
toml::table parse_toml(const std::string& text, const std::string& origin) {
    try {
        return toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
        std::ostringstream o;
        o << where(origin, e.source()) << ": " << e.description();
        throw ConfigError(o.str());
    }
}

}  // namespace

Config parse_config(const std::string& text, const std::string& origin) {
    const toml::table root = parse_toml(text, origin);
    static const std::set<std::string> sections{"daemon", "portal", "users", "store", "tfa", "api", "listen", "login", "userdb", "revoke", "notifications"};
    for (auto&& [k, v] : root)
        if (!sections.count(std::string(k.str())))
            fail(origin, v, std::string(k.str()), "unknown section");

    Config c;
    Section d(root, "daemon", origin);
    d.path("state_directory", c.state_directory);
    d.path("runtime_directory", c.runtime_directory);
    d.path("api_socket", c.api_socket);
    d.path("login_socket", c.login_socket);
    d.path("database", c.database);
    d.path("secret_key", c.secret_key);
    d.string("log_level", c.log_level);
    d.finish();
    if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warning" && c.log_level != "error")
        throw ConfigError(origin + ": daemon.log_level: must be one of debug, info, warning, error");

    Section p(root, "portal", origin);
    p.string("url", c.portal_url);
    p.string("pin", c.portal_pin);
    p.path("ca_file", c.portal_ca_file);
    p.path("host_token_file", c.portal_token_file);
    p.seconds("offline_grace", c.portal_offline_grace, 60, 365LL * 86400);
    p.seconds("poll_wait", c.portal_poll_wait, 1, 300);
    std::chrono::seconds retry_max{2}, tfa_timeout{3};
    p.seconds("retry_max", retry_max, 1, 3600);
    p.seconds("tfa_timeout", tfa_timeout, 1, 4);  // pam_portal.so waits 6 s for a code check
    p.seconds("request_timeout", c.portal_request_timeout, 1, 300);
    p.finish();
    c.portal_retry_max = retry_max;
    c.portal_tfa_timeout = tfa_timeout;
    // An idle long-poll answers after poll_wait (plus the portal's jitter): a grace shorter than a
    // few of those would refuse members while the portal is fine.
    if (c.portal_offline_grace.count() < 2 * (c.portal_poll_wait.count() + c.portal_request_timeout.count() + 5))
        throw ConfigError(origin + ": portal.offline_grace: must be at least twice poll_wait + request_timeout + 5 s");
    if (!c.portal_url.empty()) {
        std::string why;
        if (!valid_portal_url(c.portal_url, why)) throw ConfigError(origin + ": portal.url: " + why);
    }
    if (!c.portal_pin.empty() && !valid_pin(c.portal_pin))
        throw ConfigError(origin + ": portal.pin: must be sha256// and the base64 SHA-256 of the key (portal-keyd --print-pin)");

    Section u(root, "users", origin);
    u.integer("uid_min", c.uid_min, 1000, 2147483647);
    u.integer("uid_max", c.uid_max, 1000, 2147483647);
    u.finish();
    if (c.uid_max < c.uid_min) throw ConfigError(origin + ": users.uid_max: must not be below users.uid_min");

    Section st(root, "store", origin);
    st.integer("change_log_revisions", c.store_change_log_revisions, 1000, 100000000);
    st.seconds("change_log_max_age", c.store_change_log_max_age, 3600, 3650LL * 86400);
    st.finish();

    Section t(root, "tfa", origin);
    t.string("issuer", c.tfa_issuer);
    t.integer("max_failures", c.tfa_max_failures, 1, 1000);
    t.seconds("failure_window", c.tfa_failure_window, 1, 86400);
    t.seconds("lockout", c.tfa_lockout, 1, 86400);
    t.seconds("enrolment_ttl", c.tfa_enrolment_ttl, 60, 86400);
    t.finish();
    if (c.tfa_issuer.empty() || c.tfa_issuer.size() > 64)
        throw ConfigError(origin + ": tfa.issuer: must be 1 to 64 characters");

    Section a(root, "api", origin);
    a.integer("max_body_bytes", c.api_max_body_bytes, 1024, 16 * 1024 * 1024);
    a.seconds("request_timeout", c.api_request_timeout, 1, 3600);
    a.integer("max_connections_per_uid", c.api_max_connections_per_uid, 1, 1024);
    a.seconds("session_lifetime", c.api_session_lifetime, 300, 30 * 86400);
    a.integer("sign_in_max_failures", c.api_sign_in_max_failures, 1, 1000);
    a.integer("sign_in_max_failures_per_address", c.api_sign_in_max_failures_per_address, 1, 100000);
    a.seconds("sign_in_lockout", c.api_sign_in_lockout, 1, 86400);
    a.finish();

    Section l(root, "listen", origin);
    l.string_or_strings("https", c.listen_https, [](const std::string& v) {
        std::string error;
        return net::parse_listen_address(v, error) ? std::string() : error;
    });
    l.path("tls_certificate", c.tls_certificate);
    l.path("tls_private_key", c.tls_private_key);
    l.integer("max_connections", c.https_max_connections, 1, 1000000);
    l.integer("max_connections_per_address", c.https_max_connections_per_address, 1, 1000000);
    l.seconds("handshake_timeout", c.https_handshake_timeout, 1, 300);
    l.seconds("idle_timeout", c.https_idle_timeout, 1, 3600);
    l.integer("requests_per_minute_per_address", c.https_requests_per_minute_per_address, 1, 1000000);
    l.integer("requests_per_minute_per_credential", c.https_requests_per_minute_per_credential, 1, 1000000);
    l.finish();
    if (c.tls_certificate.empty() != c.tls_private_key.empty())
        throw ConfigError(origin + ": listen.tls_certificate, listen.tls_private_key: give both or neither");

    parse_login(root, origin, c);
    parse_userdb(root, origin, c);

    Section r(root, "revoke", origin);
    if (!c.system_instance()) c.revoke_terminate_sessions = false;
    r.boolean("terminate_sessions", c.revoke_terminate_sessions);
    r.finish();

    Section nt(root, "notifications", origin);
    std::string sendmail = c.notifications_sendmail.string();
    nt.string("sendmail", sendmail);
    nt.string("from", c.notifications_from);
    nt.finish();
    if (!sendmail.empty() && sendmail.front() != '/')
        throw ConfigError(origin + ": notifications.sendmail: must be an absolute path, or \"\" to send nothing");
    c.notifications_sendmail = sendmail;
    if (!c.notifications_from.empty()) {
        const auto& f = c.notifications_from;
        const auto at = f.find('@');
        const bool ok = f.size() <= 254 && at != std::string::npos && at > 0 && at + 1 < f.size() &&
                        f.find('@', at + 1) == std::string::npos &&
                        f.find_first_of("<>\"(),;:\\[]") == std::string::npos &&
                        std::none_of(f.begin(), f.end(), [](char ch) {
                            return static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) == 0x7f;
                        });
        if (!ok) throw ConfigError(origin + ": notifications.from: must be a plain email address (name@host)");
    }

    if (c.api_socket.empty()) c.api_socket = c.runtime_directory / "api.sock";
    if (c.login_socket.empty()) c.login_socket = c.runtime_directory / "login.sock";
    if (c.database.empty()) c.database = c.state_directory / "portal.db";
    if (c.secret_key.empty()) c.secret_key = c.state_directory / "tfa.key";
    if (c.login_state_dir.empty()) c.login_state_dir = c.runtime_directory / "login-state";
    if (c.portal_token_file.empty()) c.portal_token_file = c.state_directory / "host-token";
    return c;
}

void apply_joined_portal(Config& c, const std::string& text, const std::string& origin) {
    const toml::table root = parse_toml(text, origin);
    for (auto&& [k, v] : root)
        if (k.str() != "portal") fail(origin, v, std::string(k.str()), "unknown section (only [portal] is kept here)");
    Section p(root, "portal", origin);
    p.string("url", c.portal_url);
    p.string("pin", c.portal_pin);
    p.path("ca_file", c.portal_ca_file);
    p.string("host_id", c.portal_host_id);
    p.finish();
    std::string why;
    if (!valid_portal_url(c.portal_url, why)) throw ConfigError(origin + ": portal.url: " + why);
    if (!c.portal_pin.empty() && !valid_pin(c.portal_pin)) throw ConfigError(origin + ": portal.pin: not a pin");
    c.portal_joined = true;
}

namespace {

std::optional<std::string> read_small_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    if (text.str().size() > 1024 * 1024) throw ConfigError(path.string() + ": file is too large");
    return text.str();
}

}  // namespace

Config load_config(const std::filesystem::path& path, bool must_exist) {
    const auto text = read_small_file(path);
    if (!text && must_exist) throw ConfigError(path.string() + ": cannot open configuration file");
    Config c = parse_config(text.value_or(""), path.string());
    // A portal joined with portalctl join, unless the file names one itself.
    if (c.portal_url.empty())
        if (const auto joined = read_small_file(c.joined_portal_file()))
            apply_joined_portal(c, *joined, c.joined_portal_file().string());
    return c;
}

}  // namespace portal::config
