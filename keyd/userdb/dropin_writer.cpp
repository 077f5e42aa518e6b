#include "keyd/userdb/dropin_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "keyd/log/log.h"
#include "keyd/userdb/dropin_file.h"
#include "keyd/userdb/records.h"
#include "shared/ipc/unique_fd.h"
#include "shared/unix_name.h"

namespace portal::userdb {

namespace fs = std::filesystem;
using ipc::UniqueFd;
using Entry = DropinWriter::Entry;
using Kind = DropinWriter::Entry::Kind;

namespace {

constexpr auto kFullScanInterval = std::chrono::seconds(60);

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The suffixes nss-systemd reads (and the only files we ever look at).
std::string_view dropin_suffix(std::string_view name) {
    for (std::string_view s : {".user-privileged", ".user", ".group"})
        if (ends_with(name, s) && name.size() > s.size()) return s;
    return {};
}

std::string errno_text(int err) { return std::generic_category().message(err); }

bool same_time(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

// Reads the directory: every drop-in, whose it is, and our leftover temp files removed.
// Content already known from `previous` (same inode, size, mtime, mode) is not re-read.
std::unordered_map<std::string, Entry> scan(int dfd, const std::string& service, const std::string& tmp_prefix,
                                            const std::unordered_map<std::string, Entry>& previous) {
    UniqueFd scan_fd(::dup(dfd));
    DIR* d = scan_fd ? ::fdopendir(scan_fd.get()) : nullptr;
    if (!d) throw std::runtime_error("userdb: cannot read the drop-in directory: " + errno_text(errno));
    scan_fd.release();  // owned by d now
    std::unique_ptr<DIR, int (*)(DIR*)> dir_guard(d, ::closedir);

    std::unordered_map<std::string, Entry> out;
    while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name.rfind(tmp_prefix, 0) == 0) {
            ::unlinkat(dfd, name.c_str(), 0);
            continue;
        }
        if (name[0] == '.' || dropin_suffix(name).empty()) continue;
        struct stat st {};
        if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        Entry x;
        x.mode = st.st_mode & 07777;
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            const ssize_t n = ::readlinkat(dfd, name.c_str(), target, sizeof target);
            if (n < 0) continue;
            x.kind = Kind::symlink;
            x.content.assign(target, static_cast<std::size_t>(n));
        } else if (S_ISREG(st.st_mode)) {
            x.kind = Kind::regular;
            x.ino = st.st_ino;
            x.size = st.st_size;
            x.mtime = st.st_mtim;
            auto it = previous.find(name);
            if (it != previous.end() && it->second.kind == Kind::regular && it->second.ino == x.ino &&
                it->second.size == x.size && same_time(it->second.mtime, x.mtime) && it->second.mode == x.mode) {
                x.content = it->second.content;
                x.ours = it->second.ours;
            } else {
                x.content = read_dropin(dfd, name, st.st_size, /*follow_links=*/false);
                x.ours = dropin_service(x.content) == service;
            }
        }
        out.emplace(name, std::move(x));
    }
    // A symlink is ours when it points (by a bare file name) at one of our files.
    for (auto& [name, x] : out) {
        if (x.kind != Kind::symlink || x.content.find('/') != std::string::npos) continue;
        auto t = out.find(x.content);
        x.ours = t != out.end() && t->second.kind == Kind::regular && t->second.ours &&
                 dropin_suffix(x.content) == dropin_suffix(name);
    }
    return out;
}

struct Desired {
    bool symlink = false;
    std::string content;  // regular: file content; symlink: target
    mode_t mode = 0644;
    bool keep = false;    // an unchanged member's file, known to be in place: left as it is
};

// An unchanged member's files, when the directory holds every one of them as ours (what the
// last call wrote, nobody touched since): kept without being rendered again. Else nullopt.
std::optional<std::vector<std::pair<std::string, Desired>>> kept_files(
    const ipc::LoginMember& m, const std::unordered_map<std::string, DropinWriter::Entry>& existing) {
    using Kind = DropinWriter::Entry::Kind;
    const std::string& name = m.unix_name;
    const std::string uid = std::to_string(m.uid);
    std::vector<std::pair<std::string, Desired>> files;
    files.push_back({name + ".user", {false, {}, 0644, true}});
    files.push_back({uid + ".user", {true, name + ".user", 0, true}});
    files.push_back({name + ".group", {false, {}, 0644, true}});
    files.push_back({uid + ".group", {true, name + ".group", 0, true}});
    for (const auto& [file, want] : files) {
        auto x = existing.find(file);
        if (x == existing.end() || !x->second.ours) return std::nullopt;
        if (x->second.kind != (want.symlink ? Kind::symlink : Kind::regular)) return std::nullopt;
        if (want.symlink && x->second.content != want.content) return std::nullopt;
    }
    // The privileged companion exists exactly when the member has one (keys, not locked):
    // unchanged member, unchanged file set.
    if (auto x = existing.find(name + ".user-privileged"); x != existing.end() && x->second.ours)
        files.push_back({name + ".user-privileged", {false, {}, 0600, true}});
    return files;
}

}  // namespace

DropinWriter::DropinWriter(UserdbConfig cfg) : cfg_(std::move(cfg)) {
    // It names our temp files: nothing that could reach outside the directory.
    if (!is_valid_service_name(cfg_.service)) throw std::invalid_argument("userdb: invalid service name");
}

void DropinWriter::mark_used(const std::string& name) {
    if (!is_valid_unix_name(name)) return;
    const std::string file = name + ".user";
    auto it = known_.find(file);
    if (it == known_.end() || !it->second.ours || it->second.kind != Kind::regular) return;
    UniqueFd dfd(::open(cfg_.dropin_directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd || ::utimensat(dfd.get(), file.c_str(), nullptr, AT_SYMLINK_NOFOLLOW) != 0) return;
    struct stat st {};
    if (::fstatat(dfd.get(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) it->second.mtime = st.st_mtim;
}

std::vector<std::pair<std::string, std::chrono::system_clock::time_point>> DropinWriter::our_members() {
    std::vector<std::pair<std::string, std::chrono::system_clock::time_point>> out;
    UniqueFd dfd(::open(cfg_.dropin_directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) return out;  // nothing published yet
    known_ = scan(dfd.get(), cfg_.service, "." + cfg_.service + ".tmp.", known_);
    last_full_scan_ = std::chrono::steady_clock::now();
    stamp_valid_ = false;  // the next publish() looks at the directory again
    for (const auto& [file, x] : known_) {
        if (!x.ours || x.kind != Kind::regular || dropin_suffix(file) != ".user") continue;
        const std::string name = file.substr(0, file.size() - 5);
        if (!is_valid_unix_name(name)) continue;  // <uid>.user is a link, but be sure
        out.emplace_back(name, std::chrono::system_clock::time_point(std::chrono::seconds(x.mtime.tv_sec)));
    }
    return out;
}

void DropinWriter::publish(const ipc::LoginState& planned, const std::unordered_set<std::string>* changed,
                           const std::unordered_set<std::string>* resident) {
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

    // 1. What is there now: re-read unless only we changed the directory since last time.
    struct stat dst {};
    if (::fstat(dfd.get(), &dst) != 0) throw std::runtime_error("userdb: cannot stat " + dir.string());
    const auto now = std::chrono::steady_clock::now();
    const bool trust_known = stamp_valid_ && dst.st_dev == dir_dev_ && dst.st_ino == dir_ino_ &&
                             same_time(dst.st_mtim, dir_mtime_) && now - last_full_scan_ < kFullScanInterval;
    if (!trust_known) {
        known_ = scan(dfd.get(), cfg_.service, tmp_prefix, known_);
        last_full_scan_ = now;
    }
    stamp_valid_ = false;  // until the end: a failure part-way means "re-read next time"
    auto& existing = known_;

    // 2. What should be there. With a change set and a directory we trust, members outside
    // it are not rendered again: their files are in place (one hash look-up per file).
    const bool keep_unchanged = changed && trust_known;
    std::unordered_map<std::string, Desired> desired;
    for (const auto& m : planned.members) {
        if (!m.published || (resident && !resident->count(m.unix_name))) continue;
        const std::string& name = m.unix_name;
        // Defensive: names become file names.
        if (!is_valid_unix_name(name) || is_reserved_unix_name(name) || !is_publishable_id(m.uid)) {
            log::warning("userdb: not publishing an invalid member", {{"user", log::sanitize(name, 64)}});
            continue;
        }
        if (keep_unchanged && !changed->count(name)) {
            if (auto kept = kept_files(m, existing)) {
                for (auto& f : *kept) desired.emplace(std::move(f));
                continue;
            }
        }
        const std::string uid = std::to_string(m.uid);
        std::vector<std::pair<std::string, Desired>> files;
        // The same record text the provider answers with (user_record_texts).
        files.push_back({name + ".user", {false, user_record_texts(m, cfg_).public_text + "\n", 0644}});
        files.push_back({uid + ".user", {true, name + ".user", 0}});
        files.push_back({name + ".group", {false, dump(group_record(name, m.uid, cfg_)) + "\n", 0644}});
        files.push_back({uid + ".group", {true, name + ".group", 0}});
        if (auto priv = privileged_section(m)) {
            // "service" too, so the file is recognisably ours even alone. No <uid> link: every
            // file in this directory slows nss-systemd's membership scans down.
            const nlohmann::json body{{"privileged", std::move(*priv)}, {"service", cfg_.service}};
            files.push_back({name + ".user-privileged", {false, dump(body) + "\n", 0600}});
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
            if (want.symlink && x->second.kind == Kind::symlink && x->second.content == want.content) continue;
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
            if (want.symlink != links || want.keep) continue;
            auto x = existing.find(file);
            if (x != existing.end()) {
                const auto& have = x->second;
                if (links && have.kind == Kind::symlink && have.content == want.content) continue;
                if (!links && have.kind == Kind::regular && have.ours && have.content == want.content &&
                    have.mode == want.mode)
                    continue;
            }
            const std::string tmp = tmp_prefix + file;
            ::unlinkat(dfd.get(), tmp.c_str(), 0);
            Entry now_there;
            now_there.ours = true;
            if (links) {
                if (::symlinkat(want.content.c_str(), dfd.get(), tmp.c_str()) != 0) {
                    fail(file, errno);
                    continue;
                }
                now_there.kind = Kind::symlink;
                now_there.mode = 0777;
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
                now_there.kind = Kind::regular;
                now_there.mode = want.mode;
                now_there.ino = st.st_ino;
                now_there.size = st.st_size;
                now_there.mtime = st.st_mtim;
            }
            now_there.content = want.content;
            if (::renameat(dfd.get(), tmp.c_str(), dfd.get(), file.c_str()) != 0) {
                const int err = errno;
                ::unlinkat(dfd.get(), tmp.c_str(), 0);
                existing.erase(file);  // unknown now: the next call re-reads
                fail(file, err);
                continue;
            }
            existing[file] = std::move(now_there);
            ++last_changes_;
        }
    }

    // 4. Remove our stale files: links first, so no link of ours is ever left dangling, and
    // the privileged companion before its record.
    std::vector<std::pair<int, std::string>> stale;
    for (const auto& [file, x] : existing) {
        if (!x.ours || desired.count(file)) continue;
        const int order = x.kind == Kind::symlink ? 0 : dropin_suffix(file) == ".user-privileged" ? 1 : 2;
        stale.emplace_back(order, file);
    }
    std::sort(stale.begin(), stale.end());
    for (const auto& [order, file] : stale) {
        if (::unlinkat(dfd.get(), file.c_str(), 0) != 0 && errno != ENOENT) {
            fail(file, errno);
            continue;
        }
        existing.erase(file);
        ++last_changes_;
    }

    if (last_changes_ > 0 && ::fsync(dfd.get()) != 0) fail(dir.string(), errno);
    if (errors > 0)
        throw std::runtime_error("userdb: " + std::to_string(errors) + " drop-in update(s) failed, first: " +
                                 first_error);
    // Our own changes moved the directory's mtime: remember it, so the next call can tell
    // whether anyone else touched the directory since.
    if (::fstat(dfd.get(), &dst) == 0) {
        dir_dev_ = dst.st_dev;
        dir_ino_ = dst.st_ino;
        dir_mtime_ = dst.st_mtim;
        stamp_valid_ = true;
    }
}

}  // namespace portal::userdb
