#include "keyd/userdb/local_accounts.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "keyd/userdb/dropin_file.h"
#include "keyd/userdb/records.h"
#include "shared/ipc/unique_fd.h"

namespace portal::userdb {

namespace {

// Whether a reentrant NSS lookup finds an entry (growing the buffer on ERANGE).
template <typename Entry, typename Key, typename Fn>
bool nss_found(Key key, Fn fn) {
    std::vector<char> buf(16 * 1024);
    for (;;) {
        Entry e{};
        Entry* out = nullptr;
        const int rc = fn(key, &e, buf.data(), buf.size(), &out);
        if (rc == ERANGE && buf.size() < (1u << 24)) {
            buf.resize(buf.size() * 2);
            continue;
        }
        return rc == 0 && out != nullptr;
    }
}

bool nss_user(const std::string& name) { return nss_found<passwd>(name.c_str(), ::getpwnam_r); }
bool nss_user(std::uint32_t uid) { return nss_found<passwd>(static_cast<uid_t>(uid), ::getpwuid_r); }
bool nss_group(const std::string& name) { return nss_found<group>(name.c_str(), ::getgrnam_r); }
bool nss_group(std::uint32_t gid) { return nss_found<group>(static_cast<gid_t>(gid), ::getgrgid_r); }

// Re-checking a file's stamp on every call costs a syscall per member and plan; once a
// second is enough for what these checks guard against, unless told of a change.
constexpr auto kRecheckInterval = std::chrono::seconds(1);

// The monotonic clock at tick resolution, for the checks asked once per member and plan: on
// some virtual machines a precise reading is a system call (a fifth of these checks' cost at
// 10,000 members); the intervals it measures are a second and more.
std::chrono::steady_clock::time_point coarse_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

// Moves whenever what the checks answer may have changed (local_accounts_generation).
std::atomic<std::uint64_t> local_answers_generation{0};

// Bumped by local_accounts_changed(): a LocalAccounts that saw another value re-reads at once.
std::atomic<std::uint64_t> local_accounts_epoch{0};

// Whether cfg.dropin_directory/<file> is our drop-in (its "service" is ours). Remembers the
// answer per file until the file changes: a plan asks about every member, every time.
class OurDropins {
public:
    explicit OurDropins(const UserdbConfig& cfg) : dir_(cfg.dropin_directory), service_(cfg.service) {}

    bool contains(const std::string& file) {
        reopen_if_moved();
        if (!dfd_) return false;
        struct stat st {};
        if (::fstatat(dfd_.get(), file.c_str(), &st, 0) != 0 || !S_ISREG(st.st_mode)) return false;
        auto& c = cache_[file];
        if (c.valid && c.ino == st.st_ino && c.size == st.st_size && c.mtime.tv_sec == st.st_mtim.tv_sec &&
            c.mtime.tv_nsec == st.st_mtim.tv_nsec)
            return c.ours;
        c = {true, st.st_ino, st.st_size, st.st_mtim, read_is_ours(file, st.st_size)};
        return c.ours;
    }

private:
    struct Seen {
        bool valid = false;
        ino_t ino = 0;
        off_t size = 0;
        timespec mtime{};
        bool ours = false;
    };

    // The directory fd follows the path (a new tmpfs mounted over it, say), checked once a second.
    void reopen_if_moved() {
        const auto now = coarse_now();
        if (dfd_ && now - checked_ < kRecheckInterval) return;
        checked_ = now;
        struct stat path_st {}, fd_st {};
        const bool path_ok = ::stat(dir_.c_str(), &path_st) == 0;
        if (dfd_ && path_ok && ::fstat(dfd_.get(), &fd_st) == 0 && fd_st.st_dev == path_st.st_dev &&
            fd_st.st_ino == path_st.st_ino)
            return;
        dfd_.reset(path_ok ? ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1);
        cache_.clear();
    }

    bool read_is_ours(const std::string& file, off_t size) const {
        // Following links: <uid>.user is a link to <name>.user.
        return dropin_service(read_dropin(dfd_.get(), file, size, /*follow_links=*/true)) == service_;
    }

    std::filesystem::path dir_;
    std::string service_;
    ipc::UniqueFd dfd_;
    std::chrono::steady_clock::time_point checked_{};
    std::unordered_map<std::string, Seen> cache_;
};

// The machine's own users and groups, names and ids: /etc/passwd and /etc/group read directly
// (NSS answers for a name we published come from our own drop-ins), plus, when every NSS
// source enumerates (above), what NSS lists that is not a drop-in of ours (other services'
// drop-ins, systemd-homed, dynamic users). Re-read when /etc/passwd or /etc/group changes,
// when told of a change, and at least every kListTtl (sources that cannot tell us).
class LocalAccounts {
public:
    explicit LocalAccounts(std::shared_ptr<OurDropins> ours) : ours_(std::move(ours)) {}

    bool has_name(std::string_view name) {
        refresh();
        return names_.find(name) != names_.end();
    }
    bool has_id(std::uint32_t id) {
        refresh();
        return ids_.count(id) > 0;
    }
    // Whether the lists above are complete (every source enumerated, the last listing ended
    // normally): then no per-name NSS look-up is needed. Asked after has_name/has_id.
    bool complete() const { return enumerate_ && listed_ok_; }

private:
    static constexpr auto kListTtl = std::chrono::seconds(60);
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
        const auto now = coarse_now();
        const std::uint64_t epoch = local_accounts_epoch.load();
        if (loaded_ && epoch == epoch_ && now - checked_ < kRecheckInterval) return;
        const bool told = epoch != epoch_;
        checked_ = now;
        epoch_ = epoch;
        Stamp p = stamp("/etc/passwd"), g = stamp("/etc/group"), n = stamp(kNsswitch);
        // Sources added to (or removed from) nsswitch.conf while we run count from then on.
        const bool sources_changed = !loaded_ || !(n == nsswitch_);
        if (sources_changed) enumerate_ = nss_sources_enumerable(kNsswitch);
        nsswitch_ = n;
        if (loaded_ && !sources_changed && p == passwd_ && g == group_ &&
            !(enumerate_ && (told || !listed_ok_ || now - listed_ >= kListTtl)))
            return;
        auto names_before = std::move(names_);
        auto ids_before = std::move(ids_);
        const bool complete_before = complete();
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
        if (enumerate_) {
            listed_ok_ = list_nss();
            listed_ = now;
        }
        passwd_ = p;
        group_ = g;
        if (!loaded_ || sources_changed || names_ != names_before || ids_ != ids_before || complete() != complete_before)
            local_answers_generation.fetch_add(1);
        loaded_ = true;
    }
    // Everything NSS lists, minus our own drop-ins (nss-systemd lists those whatever the
    // bypass says; our provider does not enumerate). Only the main thread enumerates.
    // False when a listing stopped on an error rather than at its end (a source timed out):
    // the lists are then incomplete and each name is asked of NSS until a listing succeeds.
    bool list_nss() {
        bool ok = true;
        std::vector<char> buf(16 * 1024);
        ::setpwent();
        for (;;) {
            passwd e{};
            passwd* out = nullptr;
            const int rc = ::getpwent_r(&e, buf.data(), buf.size(), &out);
            if (rc == ERANGE && buf.size() < (1u << 24)) {
                buf.resize(buf.size() * 2);
                continue;
            }
            if (rc != 0 || !out) {
                ok = ok && (rc == 0 || rc == ENOENT);
                break;
            }
            const std::string name = e.pw_name;
            if (!ours_->contains(name + ".user")) names_.insert(name);
            if (!ours_->contains(std::to_string(e.pw_uid) + ".user")) ids_.insert(e.pw_uid);
        }
        ::endpwent();
        ::setgrent();
        for (;;) {
            group e{};
            group* out = nullptr;
            const int rc = ::getgrent_r(&e, buf.data(), buf.size(), &out);
            if (rc == ERANGE && buf.size() < (1u << 24)) {
                buf.resize(buf.size() * 2);
                continue;
            }
            if (rc != 0 || !out) {
                ok = ok && (rc == 0 || rc == ENOENT);
                break;
            }
            const std::string name = e.gr_name;
            if (!ours_->contains(name + ".group")) names_.insert(name);
            if (!ours_->contains(std::to_string(e.gr_gid) + ".group")) ids_.insert(e.gr_gid);
        }
        ::endgrent();
        return ok;
    }

    std::shared_ptr<OurDropins> ours_;
    static constexpr const char* kNsswitch = "/etc/nsswitch.conf";
    bool enumerate_ = false;
    bool listed_ok_ = false;
    Stamp nsswitch_;
    bool loaded_ = false;
    std::chrono::steady_clock::time_point checked_{};
    std::chrono::steady_clock::time_point listed_{};
    std::uint64_t epoch_ = 0;
    Stamp passwd_, group_;
    // Looked up by string_view: no string made per member and plan.
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_set<std::string, NameHash, std::equal_to<>> names_;
    std::unordered_set<std::uint32_t> ids_;
};

}  // namespace

// Whether every source of the passwd and group databases can list its accounts: only
// "files" and "systemd" in nsswitch.conf (Debian's default with libnss-systemd). Then local
// accounts are enumerated once per look (cost in proportion to the machine's own accounts and
// the drop-ins, not to the portal's members); otherwise (LDAP, SSSD, NIS, compat...: sources
// that may not enumerate) each name and id is asked of NSS.
bool nss_sources_enumerable(const std::filesystem::path& nsswitch_conf) {
    std::FILE* f = std::fopen(nsswitch_conf.c_str(), "re");
    if (!f) return true;  // glibc's default without the file: files
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> guard(f, std::fclose);
    bool ok = true;
    char line[1024];
    while (ok && std::fgets(line, sizeof line, f)) {
        std::string_view l(line);
        if (auto hash = l.find('#'); hash != std::string_view::npos) l = l.substr(0, hash);
        auto skip_space = [&] {
            while (!l.empty() && (l.front() == ' ' || l.front() == '\t' || l.front() == '\n')) l.remove_prefix(1);
        };
        skip_space();
        std::string_view db;
        for (std::string_view d : {"passwd:", "group:"})
            if (l.substr(0, d.size()) == d) db = d;
        if (db.empty()) continue;
        l.remove_prefix(db.size());
        bool in_action = false;  // [NOTFOUND=return] and the like
        for (skip_space(); !l.empty(); skip_space()) {
            std::size_t n = 0;
            while (n < l.size() && l[n] != ' ' && l[n] != '\t' && l[n] != '\n') ++n;
            const std::string_view word = l.substr(0, n);
            l.remove_prefix(n);
            if (in_action || word.front() == '[') {
                in_action = word.back() != ']';
                continue;
            }
            if (word != "files" && word != "systemd") ok = false;
        }
    }
    return ok;
}

// Without enumerable sources, NSS is asked only about names and ids we have no drop-in for: for those we do, nss-systemd
// would answer with our own record (it reads drop-ins whatever SYSTEMD_BYPASS_USERDB says),
// and for a group it would also scan the whole drop-in directory for *.membership files, once
// per call (~40-80 ms with 10,000 members published). /etc is read directly. What is left
// unseen: a name that appears in a later NSS source (LDAP...) after we published it, which
// nss-systemd hides from the whole system anyway when it comes first in nsswitch.conf.
// The answers of the checks beyond /etc/passwd and /etc/group (our drop-ins: a few stats;
// NSS: other sources), remembered per name or id for kMemoTtl or until local accounts are
// said to have changed: a plan asks about every member at every refresh, and at 10,000
// members those syscalls were a fifth of a refresh. A source other than the files (LDAP, a
// drop-in of another service) is noticed within kMemoTtl, as the drop-in writer's rescan.
constexpr auto kMemoTtl = std::chrono::seconds(60);

template <class Key>
class CheckMemo {
public:
    template <class Check>
    bool get(const Key& key, Check&& check) {
        const auto now = coarse_now();
        const std::uint64_t epoch = local_accounts_epoch.load();
        if (epoch != epoch_ || now - started_ >= kMemoTtl) {  // all of it ages at once: no per-entry clocks
            if (!answers_.empty()) local_answers_generation.fetch_add(1);
            answers_.clear();
            epoch_ = epoch;
            started_ = now;
        }
        if (auto it = answers_.find(key); it != answers_.end()) return it->second;
        const bool taken = check();
        answers_.emplace(key, taken);
        return taken;
    }

private:
    std::unordered_map<Key, bool> answers_;
    std::uint64_t epoch_ = 0;
    std::chrono::steady_clock::time_point started_{};
};

std::function<bool(std::string_view)> local_name_check(const UserdbConfig& cfg) {
    ensure_userdb_bypass(cfg);
    auto ours = std::make_shared<OurDropins>(cfg);
    auto locals = std::make_shared<LocalAccounts>(ours);
    auto memo = std::make_shared<CheckMemo<std::string>>();
    return [locals, ours, memo](std::string_view name_view) {
        if (locals->has_name(name_view)) return true;
        if (locals->complete()) return false;
        const std::string name(name_view);
        return memo->get(name, [&] {
            if (!ours->contains(name + ".user") && nss_user(name)) return true;
            if (!ours->contains(name + ".group") && nss_group(name)) return true;
            return false;
        });
    };
}

std::function<bool(std::uint32_t)> local_id_check(const UserdbConfig& cfg) {
    ensure_userdb_bypass(cfg);
    auto ours = std::make_shared<OurDropins>(cfg);
    auto locals = std::make_shared<LocalAccounts>(ours);
    auto memo = std::make_shared<CheckMemo<std::uint32_t>>();
    return [locals, ours, memo](std::uint32_t id) {
        if (locals->has_id(id)) return true;
        if (locals->complete()) return false;
        return memo->get(id, [&] {
            const std::string key = std::to_string(id);
            if (!ours->contains(key + ".user") && nss_user(id)) return true;
            if (!ours->contains(key + ".group") && nss_group(id)) return true;
            return false;
        });
    };
}

void local_accounts_changed() {
    local_accounts_epoch.fetch_add(1);
    local_answers_generation.fetch_add(1);
}

std::uint64_t local_accounts_generation() { return local_answers_generation.load(); }

bool local_group_exists(const UserdbConfig& cfg, std::string_view name) {
    ensure_userdb_bypass(cfg);
    return nss_group(std::string(name));
}

bool local_gid_exists(const UserdbConfig& cfg, std::uint32_t gid) {
    ensure_userdb_bypass(cfg);
    return nss_group(gid);
}

}  // namespace portal::userdb
