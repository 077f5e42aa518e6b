#include "keyd/userdb/publication.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_set>
#include <utility>

#include "keyd/log/log.h"
#include "keyd/userdb/records.h"
#include "shared/ipc/login_rules.h"
#include "shared/unix_name.h"

namespace portal::userdb {

namespace {

std::string gid_text(std::uint32_t id) { return std::to_string(id); }

}  // namespace

PublishPlan plan_publication(ipc::LoginState state, const UserdbConfig& cfg,
                             const std::function<bool(std::string_view)>& name_taken_locally,
                             const std::function<bool(std::uint32_t)>& id_taken_locally) {
    PublishPlan plan;
    auto& warnings = plan.warnings;

    for (const auto& [role, groups] : cfg.role_groups)
        for (const auto& g : groups)
            if (!name_taken_locally(g))
                warnings.push_back(g + ": group does not exist locally; role " + std::string(to_string(role)) +
                                   " gets no membership in it");

    // We serve the 2FA group ourselves when it does not exist locally; if its gid is taken,
    // sshd's Match Group could not see it and members with 2FA would log in with a key only.
    const bool tfa_group_local = name_taken_locally(cfg.tfa_group);
    const bool tfa_group_blocked = !tfa_group_local && id_taken_locally(cfg.tfa_group_gid);
    if (tfa_group_blocked)
        warnings.push_back(cfg.tfa_group + ": gid " + gid_text(cfg.tfa_group_gid) +
                           " exists locally under another name; members with 2FA are not published");

    // check_account() decides on one member at a time in a scratch state: find() is linear.
    ipc::LoginState scratch;
    scratch.enforce_2fa = state.enforce_2fa;
    scratch.login_roles = state.login_roles;
    scratch.members.resize(1);
    const ipc::LoginPolicy policy = ipc::policy_of(state);

    std::unordered_set<std::string> names;
    std::unordered_set<std::uint32_t> ids;
    for (auto& m : state.members) {
        m.published = false;
        bool eligible = m.status == MemberStatus::deactivated;
        if (!eligible) {
            std::swap(m, scratch.members[0]);
            scratch.members[0].published = true;
            eligible = ipc::check_account(scratch, scratch.members[0].unix_name, policy).allow;
            std::swap(m, scratch.members[0]);
            m.published = false;
        }
        if (!eligible) continue;

        const std::string& name = m.unix_name;
        auto refuse = [&](const std::string& why) { warnings.push_back(log::sanitize(name, 64) + ": " + why); };
        if (!is_valid_unix_name(name)) {
            refuse("not a valid user name");
            continue;
        }
        if (is_reserved_unix_name(name)) {
            refuse("name is reserved");
            continue;
        }
        if (!is_publishable_id(m.uid)) {
            refuse("uid " + gid_text(m.uid) + " cannot be used");
            continue;
        }
        if (names.count(name)) {
            refuse("name is already used by another member");
            continue;
        }
        if (ids.count(m.uid)) {
            refuse("uid " + gid_text(m.uid) + " is already used by another member");
            continue;
        }
        if (!tfa_group_local && m.uid == cfg.tfa_group_gid) {
            refuse("uid " + gid_text(m.uid) + " is the gid of group " + cfg.tfa_group);
            continue;
        }
        if (m.tfa_enabled && !is_locked(m) && tfa_group_blocked) {
            refuse("group " + cfg.tfa_group + " cannot be published");
            continue;
        }
        if (name_taken_locally(name)) {
            refuse("name exists locally");
            continue;
        }
        if (id_taken_locally(m.uid)) {
            refuse("uid " + gid_text(m.uid) + " exists locally");
            continue;
        }
        m.published = true;
        names.insert(name);
        ids.insert(m.uid);
    }
    plan.state = std::move(state);
    return plan;
}

// --- the real checks ------------------------------------------------------------------

namespace {

// Reentrant NSS lookups with a growing buffer.
template <typename Entry, typename Key, typename Fn>
std::optional<std::pair<Entry, std::vector<char>>> nss_lookup(Key key, Fn fn) {
    std::vector<char> buf(16 * 1024);
    for (;;) {
        Entry e{};
        Entry* out = nullptr;
        const int rc = fn(key, &e, buf.data(), buf.size(), &out);
        if (rc == ERANGE && buf.size() < (1u << 24)) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc != 0 || !out) return std::nullopt;
        return std::make_pair(e, std::move(buf));
    }
}

struct PwEntry {
    std::string name;
    std::uint32_t uid = 0, gid = 0;
    std::string home, shell;
};
struct GrEntry {
    std::string name;
    std::uint32_t gid = 0;
};

std::optional<PwEntry> to_pw(const std::optional<std::pair<passwd, std::vector<char>>>& r) {
    if (!r) return std::nullopt;
    const passwd& p = r->first;
    return PwEntry{p.pw_name ? p.pw_name : "", p.pw_uid, p.pw_gid, p.pw_dir ? p.pw_dir : "",
                   p.pw_shell ? p.pw_shell : ""};
}
std::optional<GrEntry> to_gr(const std::optional<std::pair<group, std::vector<char>>>& r) {
    if (!r) return std::nullopt;
    return GrEntry{r->first.gr_name ? r->first.gr_name : "", r->first.gr_gid};
}

std::optional<PwEntry> nss_user(const std::string& name) { return to_pw(nss_lookup<passwd>(name.c_str(), ::getpwnam_r)); }
std::optional<PwEntry> nss_user(std::uint32_t uid) { return to_pw(nss_lookup<passwd>(static_cast<uid_t>(uid), ::getpwuid_r)); }
std::optional<GrEntry> nss_group(const std::string& name) { return to_gr(nss_lookup<group>(name.c_str(), ::getgrnam_r)); }
std::optional<GrEntry> nss_group(std::uint32_t gid) { return to_gr(nss_lookup<group>(static_cast<gid_t>(gid), ::getgrgid_r)); }

// Our drop-in `<key>.user` / `<key>.group` in cfg.dropin_directory, when its "service" is ours.
std::optional<nlohmann::json> our_dropin(const UserdbConfig& cfg, const std::string& file) {
    std::ifstream in(cfg.dropin_directory / file);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    auto j = nlohmann::json::parse(text.str(), nullptr, false);
    if (!j.is_object()) return std::nullopt;
    auto s = j.find("service");
    if (s == j.end() || !s->is_string() || s->get<std::string>() != cfg.service) return std::nullopt;
    return j;
}

bool json_eq(const nlohmann::json& j, const char* key, const std::string& v) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() && it->get<std::string>() == v;
}
bool json_eq(const nlohmann::json& j, const char* key, std::uint32_t v) {
    auto it = j.find(key);
    return it != j.end() && it->is_number_unsigned() && it->get<std::uint64_t>() == v;
}

bool is_our_user(const UserdbConfig& cfg, const PwEntry& p, const std::string& file) {
    auto j = our_dropin(cfg, file);
    return j && json_eq(*j, "userName", p.name) && json_eq(*j, "uid", p.uid) && json_eq(*j, "gid", p.gid) &&
           json_eq(*j, "homeDirectory", p.home) && json_eq(*j, "shell", p.shell);
}
bool is_our_group(const UserdbConfig& cfg, const GrEntry& g, const std::string& file) {
    auto j = our_dropin(cfg, file);
    return j && json_eq(*j, "groupName", g.name) && json_eq(*j, "gid", g.gid);
}

// Names and ids of /etc/passwd and /etc/group, re-read when either file changes. Read
// directly because NSS answers for a name we published come from our own drop-ins.
class LocalFiles {
public:
    bool has_name(std::string_view name) {
        refresh();
        return names_.count(std::string(name)) > 0;
    }
    bool has_id(std::uint32_t id) {
        refresh();
        return ids_.count(id) > 0;
    }

private:
    struct Stamp {
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = -1;
        timespec mtime{};
        bool operator==(const Stamp& o) const {
            return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
                   mtime.tv_nsec == o.mtime.tv_nsec;
        }
    };
    static Stamp stamp(const char* path) {
        struct stat st {};
        if (::stat(path, &st) != 0) return {};
        return {st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    }
    void refresh() {
        Stamp p = stamp("/etc/passwd"), g = stamp("/etc/group");
        if (loaded_ && p == passwd_ && g == group_) return;
        names_.clear();
        ids_.clear();
        if (std::FILE* f = std::fopen("/etc/passwd", "re")) {
            while (passwd* e = ::fgetpwent(f)) {
                names_.insert(e->pw_name);
                ids_.insert(e->pw_uid);
            }
            std::fclose(f);
        }
        if (std::FILE* f = std::fopen("/etc/group", "re")) {
            while (group* e = ::fgetgrent(f)) {
                names_.insert(e->gr_name);
                ids_.insert(e->gr_gid);
            }
            std::fclose(f);
        }
        passwd_ = p;
        group_ = g;
        loaded_ = true;
    }

    bool loaded_ = false;
    Stamp passwd_, group_;
    std::unordered_set<std::string> names_;
    std::unordered_set<std::uint32_t> ids_;
};

}  // namespace

std::function<bool(std::string_view)> local_name_check(const UserdbConfig& cfg) {
    ensure_userdb_bypass(cfg);
    auto files = std::make_shared<LocalFiles>();
    return [cfg, files](std::string_view name_view) {
        if (files->has_name(name_view)) return true;
        const std::string name(name_view);
        if (auto p = nss_user(name); p && !is_our_user(cfg, *p, name + ".user")) return true;
        if (auto g = nss_group(name); g && !is_our_group(cfg, *g, name + ".group")) return true;
        return false;
    };
}

std::function<bool(std::uint32_t)> local_id_check(const UserdbConfig& cfg) {
    ensure_userdb_bypass(cfg);
    auto files = std::make_shared<LocalFiles>();
    return [cfg, files](std::uint32_t id) {
        if (files->has_id(id)) return true;
        const std::string key = std::to_string(id);
        if (auto p = nss_user(id); p && !is_our_user(cfg, *p, key + ".user")) return true;
        if (auto g = nss_group(id); g && !is_our_group(cfg, *g, key + ".group")) return true;
        return false;
    };
}

bool local_group_exists(const UserdbConfig& cfg, std::string_view name) {
    ensure_userdb_bypass(cfg);
    return nss_group(std::string(name)).has_value();
}

bool local_gid_exists(const UserdbConfig& cfg, std::uint32_t gid) {
    ensure_userdb_bypass(cfg);
    return nss_group(gid).has_value();
}

}  // namespace portal::userdb
