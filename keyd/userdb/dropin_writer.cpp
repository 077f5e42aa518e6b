#include "keyd/userdb/dropin_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "keyd/log/log.h"
#include "keyd/userdb/records.h"
#include "shared/ipc/unique_fd.h"
#include "shared/unix_name.h"

namespace portal::userdb {

namespace fs = std::filesystem;
using ipc::UniqueFd;

namespace {

constexpr off_t kMaxDropinBytes = 1024 * 1024;

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The suffixes nss-systemd reads (and the only files we ever look at).
std::string_view dropin_suffix(std::string_view name) {
    for (std::string_view s : {".user-privileged", ".user", ".group"})
        if (ends_with(name, s) && name.size() > s.size()) return s;
    return {};
}

std::string service_of(const std::string& content) {
    auto j = nlohmann::json::parse(content, nullptr, false);
    if (!j.is_object()) return {};
    auto it = j.find("service");
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string errno_text(int err) { return std::generic_category().message(err); }

struct Existing {
    enum class Kind { regular, symlink, other } kind = Kind::other;
    std::string content;  // regular: file content; symlink: target
    mode_t mode = 0;
    bool ours = false;
};

struct Desired {
    bool symlink = false;
    std::string content;  // regular: file content; symlink: target
    mode_t mode = 0644;
};

}  // namespace

DropinWriter::DropinWriter(UserdbConfig cfg) : cfg_(std::move(cfg)) {}

void DropinWriter::publish(const ipc::LoginState& planned) {
    last_changes_ = 0;
    const fs::path& dir = cfg_.dropin_directory;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        fs::create_directories(dir, ec);
        if (ec) throw std::runtime_error("userdb: cannot create " + dir.string() + ": " + ec.message());
        ::chmod(dir.c_str(), 0755);
    }
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) throw std::runtime_error("userdb: cannot open " + dir.string() + ": " + errno_text(errno));

    std::string first_error;
    std::size_t errors = 0;
    auto fail = [&](const std::string& what, int err) {
        if (errors++ == 0) first_error = what + ": " + errno_text(err);
        log::error("userdb: drop-in update failed", {{"file", what}, {"error", errno_text(err)}});
    };
    const std::string tmp_prefix = "." + cfg_.service + ".tmp.";

    // 1. What is there now (our temp files from an interrupted run are removed).
    std::map<std::string, Existing> existing;
    {
        UniqueFd scan_fd(::dup(dfd.get()));
        DIR* d = scan_fd ? ::fdopendir(scan_fd.get()) : nullptr;
        if (!d) throw std::runtime_error("userdb: cannot read " + dir.string() + ": " + errno_text(errno));
        scan_fd.release();  // owned by d now
        std::unique_ptr<DIR, int (*)(DIR*)> dir_guard(d, ::closedir);
        std::map<std::string, Known> seen;
        while (dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name.rfind(tmp_prefix, 0) == 0) {
                ::unlinkat(dfd.get(), name.c_str(), 0);
                continue;
            }
            if (dropin_suffix(name).empty() || name[0] == '.') continue;
            struct stat st {};
            if (::fstatat(dfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
            Existing x;
            x.mode = st.st_mode & 07777;
            if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                const ssize_t n = ::readlinkat(dfd.get(), name.c_str(), target, sizeof target);
                if (n < 0) continue;
                x.kind = Existing::Kind::symlink;
                x.content.assign(target, static_cast<std::size_t>(n));
            } else if (S_ISREG(st.st_mode)) {
                x.kind = Existing::Kind::regular;
                auto it = cache_.find(name);
                if (it != cache_.end() && it->second.ino == st.st_ino && it->second.size == st.st_size &&
                    it->second.mtime.tv_sec == st.st_mtim.tv_sec && it->second.mtime.tv_nsec == st.st_mtim.tv_nsec &&
                    it->second.mode == x.mode) {
                    x.content = it->second.content;
                } else if (st.st_size <= kMaxDropinBytes) {
                    UniqueFd fd(::openat(dfd.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
                    if (!fd) continue;
                    std::string content(static_cast<std::size_t>(st.st_size), '\0');
                    std::size_t got = 0;
                    while (got < content.size()) {
                        const ssize_t n = ::read(fd.get(), content.data() + got, content.size() - got);
                        if (n < 0 && errno == EINTR) continue;
                        if (n <= 0) break;
                        got += static_cast<std::size_t>(n);
                    }
                    content.resize(got);
                    x.content = std::move(content);
                }
                x.ours = service_of(x.content) == cfg_.service;
                if (x.ours) seen[name] = Known{st.st_ino, st.st_size, st.st_mtim, x.mode, x.content};
            }
            existing.emplace(name, std::move(x));
        }
        cache_ = std::move(seen);  // forget files that are gone or no longer ours
    }
    // A symlink is ours when it points (by a bare file name) at one of our files.
    for (auto& [name, x] : existing) {
        if (x.kind != Existing::Kind::symlink || x.content.find('/') != std::string::npos) continue;
        auto t = existing.find(x.content);
        x.ours = t != existing.end() && t->second.kind == Existing::Kind::regular && t->second.ours &&
                 dropin_suffix(x.content) == dropin_suffix(name);
    }

    // 2. What should be there.
    std::map<std::string, Desired> desired;
    for (const auto& m : planned.members) {
        if (!m.published) continue;
        const std::string& name = m.unix_name;
        // Defensive: names become file names.
        if (!is_valid_unix_name(name) || is_reserved_unix_name(name) || !is_publishable_id(m.uid)) {
            log::warning("userdb: not publishing an invalid member", {{"user", log::sanitize(name, 64)}});
            continue;
        }
        const std::string uid = std::to_string(m.uid);
        std::vector<std::pair<std::string, Desired>> files;
        files.push_back({name + ".user", {false, dump(user_record(m, cfg_)) + "\n", 0644}});
        files.push_back({uid + ".user", {true, name + ".user", 0}});
        files.push_back({name + ".group", {false, dump(group_record(name, m.uid, cfg_)) + "\n", 0644}});
        files.push_back({uid + ".group", {true, name + ".group", 0}});
        if (auto priv = privileged_section(m)) {
            const nlohmann::json body{{"privileged", std::move(*priv)}, {"service", cfg_.service}};
            files.push_back({name + ".user-privileged", {false, dump(body) + "\n", 0600}});
            files.push_back({uid + ".user-privileged", {true, name + ".user-privileged", 0}});
        }
        std::string conflict;
        for (const auto& [file, want] : files) {
            if (desired.count(file)) {
                conflict = file + " (another member)";
                break;
            }
            auto x = existing.find(file);
            if (x == existing.end() || x->second.ours) continue;
            // A symlink already pointing where we want it (e.g. at our file that someone
            // removed) may stay.
            if (want.symlink && x->second.kind == Existing::Kind::symlink && x->second.content == want.content)
                continue;
            conflict = file;
            break;
        }
        if (!conflict.empty()) {
            log::warning("userdb: not publishing a member: a drop-in file is not ours",
                         {{"user", name}, {"file", conflict}});
            continue;
        }
        for (auto& f : files) desired.emplace(std::move(f));
    }

    // 3. Write what changed: files first, then the symlinks that point at them.
    for (const bool links : {false, true}) {
        for (const auto& [file, want] : desired) {
            if (want.symlink != links) continue;
            auto x = existing.find(file);
            if (x != existing.end()) {
                const auto& have = x->second;
                if (links && have.kind == Existing::Kind::symlink && have.content == want.content) continue;
                if (!links && have.kind == Existing::Kind::regular && have.content == want.content &&
                    have.mode == want.mode)
                    continue;
            }
            const std::string tmp = tmp_prefix + file;
            ::unlinkat(dfd.get(), tmp.c_str(), 0);
            if (links) {
                if (::symlinkat(want.content.c_str(), dfd.get(), tmp.c_str()) != 0) {
                    fail(file, errno);
                    continue;
                }
            } else {
                UniqueFd fd(::openat(dfd.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                     want.mode));
                if (!fd) {
                    fail(file, errno);
                    continue;
                }
                int err = 0;
                if (::fchmod(fd.get(), want.mode) != 0) err = errno;  // whatever the umask
                std::string_view rest = want.content;
                while (!err && !rest.empty()) {
                    const ssize_t n = ::write(fd.get(), rest.data(), rest.size());
                    if (n < 0 && errno == EINTR) continue;
                    if (n <= 0) {
                        err = n < 0 ? errno : EIO;
                        break;
                    }
                    rest.remove_prefix(static_cast<std::size_t>(n));
                }
                if (!err && ::fsync(fd.get()) != 0) err = errno;
                struct stat st {};
                if (!err && ::fstat(fd.get(), &st) != 0) err = errno;
                if (err) {
                    ::unlinkat(dfd.get(), tmp.c_str(), 0);
                    fail(file, err);
                    continue;
                }
                cache_[file] = Known{st.st_ino, st.st_size, st.st_mtim, want.mode, want.content};
            }
            if (::renameat(dfd.get(), tmp.c_str(), dfd.get(), file.c_str()) != 0) {
                const int err = errno;
                ::unlinkat(dfd.get(), tmp.c_str(), 0);
                cache_.erase(file);
                fail(file, err);
                continue;
            }
            ++last_changes_;
        }
    }

    // 4. Remove our stale files: links first, so no link of ours is ever left dangling, and
    // the privileged companion before its record.
    for (const int pass : {0, 1, 2}) {
        for (const auto& [file, x] : existing) {
            if (!x.ours || desired.count(file)) continue;
            const bool link = x.kind == Existing::Kind::symlink;
            const bool priv = dropin_suffix(file) == ".user-privileged";
            if ((pass == 0) != link || (pass == 1 && !priv) || (pass == 2 && priv)) continue;
            if (::unlinkat(dfd.get(), file.c_str(), 0) != 0 && errno != ENOENT) {
                fail(file, errno);
                continue;
            }
            cache_.erase(file);
            ++last_changes_;
        }
    }

    if (last_changes_ > 0 && ::fsync(dfd.get()) != 0) fail(dir.string(), errno);
    if (errors > 0)
        throw std::runtime_error("userdb: " + std::to_string(errors) + " drop-in update(s) failed, first: " +
                                 first_error);
}

}  // namespace portal::userdb
