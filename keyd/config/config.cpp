#include "keyd/config/config.h"

#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

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
            auto v = n->value<std::int64_t>();
            if (!n->is_integer() || !v) fail(origin_, *n, full(key), "must be an integer");
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

}  // namespace

Config parse_config(const std::string& text, const std::string& origin) {
    toml::table root;
    try {
        root = toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
        std::ostringstream o;
        o << where(origin, e.source()) << ": " << e.description();
        throw ConfigError(o.str());
    }
    static const std::set<std::string> sections{"daemon", "portal", "users", "tfa", "api"};
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
    p.finish();
    if (!c.portal_url.empty())
        throw ConfigError(origin + ": portal.url: agent mode is not available in this release; leave it empty");

    Section u(root, "users", origin);
    u.integer("uid_min", c.uid_min, 1000, 2147483647);
    u.integer("uid_max", c.uid_max, 1000, 2147483647);
    u.finish();
    if (c.uid_max < c.uid_min) throw ConfigError(origin + ": users.uid_max: must not be below users.uid_min");

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
    a.finish();

    if (c.api_socket.empty()) c.api_socket = c.runtime_directory / "api.sock";
    if (c.login_socket.empty()) c.login_socket = c.runtime_directory / "login.sock";
    if (c.database.empty()) c.database = c.state_directory / "portal.db";
    if (c.secret_key.empty()) c.secret_key = c.state_directory / "tfa.key";
    return c;
}

Config load_config(const std::filesystem::path& path, bool must_exist) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (!must_exist) return parse_config("", path.string());
        throw ConfigError(path.string() + ": cannot open configuration file");
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (text.str().size() > 1024 * 1024) throw ConfigError(path.string() + ": configuration file is too large");
    return parse_config(text.str(), path.string());
}

}  // namespace portal::config
