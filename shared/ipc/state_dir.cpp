#include "shared/ipc/state_dir.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/ipc/trust.h"
#include "shared/ipc/unique_fd.h"
#include "shared/unix_name.h"

namespace portal::ipc {

namespace {

std::string with_errno(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// Root-owned and writable by nobody else: what the login path trusts (trust.h).
const char* untrusted(const struct stat& st) {
    if (!is_trusted_uid(st.st_uid)) return "not owned by root";
    if (st.st_mode & (S_IWGRP | S_IWOTH)) return "writable by group or others";
    return nullptr;
}

// A file's content under `dirfd`, with the checks of read_state_dir. `missing` is set (and
// nullopt returned, error empty) when there is no such file.
std::optional<std::string> read_trusted_at(int dirfd, const std::string& shown, const char* name, std::size_t cap,
                                           std::string& error, bool* missing = nullptr, struct stat* stat_out = nullptr) {
    UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        if (missing && errno == ENOENT) {
            *missing = true;
            return std::nullopt;
        }
        error = with_errno(shown, errno);
        return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        error = with_errno(shown, errno);
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) error = shown + ": not a regular file";
    else if (const char* why = untrusted(st)) error = shown + ": " + why;
    else if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) > cap) error = shown + ": too large";
    if (!error.empty()) return std::nullopt;

    // Read up to the cap + 1, so that a file that grew after fstat is caught, not trusted.
    std::string text(static_cast<std::size_t>(st.st_size) + 1, '\0');
    std::size_t got = 0;
    for (;;) {
        if (got == text.size()) {
            if (text.size() > cap) {
                error = shown + ": too large";
                return std::nullopt;
            }
            text.resize(std::min(text.size() * 2, cap + 1));
        }
        const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = with_errno(shown, errno);
            return std::nullopt;
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    if (stat_out) *stat_out = st;
    return text;
}

// The state directory, opened without following a symlink and checked like its files.
UniqueFd open_trusted_dir(const std::string& dir, std::string& error) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        error = with_errno(dir, errno);
        return fd;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        error = with_errno(dir, errno);
        return UniqueFd();
    }
    if (const char* why = untrusted(st)) {
        error = dir + ": " + why;
        return UniqueFd();
    }
    return fd;
}

// The entry `name` read under `dirfd`; `missing` as in read_trusted_at.
std::optional<MemberEntry> read_entry_at(int dirfd, const std::string& dir, std::string_view name, std::string& error,
                                         bool* missing) {
    const std::string file(name);
    const std::string shown = dir + "/" + file;
    auto text = read_trusted_at(dirfd, shown, file.c_str(), kMaxMemberEntryBytes, error, missing);
    if (!text) return std::nullopt;
    std::string parse_error;
    auto entry = member_entry_from_json(*text, parse_error);
    if (!entry) {
        error = shown + ": " + parse_error;
        return std::nullopt;
    }
    // A file renamed (or copied) to another member's name must not speak for that member.
    if (entry->member.unix_name != name) {
        error = shown + ": member.unix_name: names another member";
        return std::nullopt;
    }
    return entry;
}

std::string path_in(const std::string& dir, std::string_view name) {
    std::string p = dir;
    p += '/';
    p += name;
    return p;
}

}  // namespace

bool is_member_file_name(std::string_view name) { return is_valid_unix_name(name); }

std::optional<LoadedState> read_state_dir(const std::string& dir, std::string_view user, std::string& error,
                                          std::time_t now) {
    error.clear();
    const UniqueFd dfd = open_trusted_dir(dir, error);
    if (!dfd) return std::nullopt;

    const std::string header_shown = path_in(dir, kStateHeaderName);
    struct stat st {};  // of the header read: its mtime is when the daemon last confirmed the directory
    auto header_text =
        read_trusted_at(dfd.get(), header_shown, kStateHeaderName, kMaxStateHeaderBytes, error, nullptr, &st);
    if (!header_text) return std::nullopt;
    std::string parse_error;
    auto header = header_from_json(*header_text, parse_error);
    if (!header) {
        error = header_shown + ": " + parse_error;
        return std::nullopt;
    }

    LoadedState out;
    out.state = std::move(*header);
    const std::int64_t age = static_cast<std::int64_t>(now) - static_cast<std::int64_t>(st.st_mtim.tv_sec);
    out.age_seconds = age > 0 ? age : 0;
    out.expired = out.age_seconds > out.state.grace_seconds;

    // A name that cannot be a member's never becomes a path: not a member.
    if (!is_member_file_name(user)) return out;
    bool missing = false;
    auto entry = read_entry_at(dfd.get(), dir, user, error, &missing);
    if (missing) return out;  // no entry: not a member
    if (!entry) return std::nullopt;
    if (entry->account_id != out.state.account_id) {
        error = path_in(dir, user) + ": account_id: written for another account";
        return std::nullopt;
    }
    out.state.members.push_back(std::move(entry->member));
    return out;
}

std::optional<MemberEntry> read_member_entry(const std::string& dir, std::string_view name, std::string& error) {
    error.clear();
    if (!is_member_file_name(name)) {
        error = "not a member's file name";
        return std::nullopt;
    }
    const UniqueFd dfd = open_trusted_dir(dir, error);
    if (!dfd) return std::nullopt;
    bool missing = false;
    auto entry = read_entry_at(dfd.get(), dir, name, error, &missing);
    if (missing) error = path_in(dir, name) + ": missing";
    return entry;
}

bool prepare_state_dir(const std::string& dir, const StateFileMode& mode, std::string& error) {
    if (::mkdir(dir.c_str(), mode.mode) != 0 && errno != EEXIST) {
        error = with_errno("mkdir " + dir, errno);
        return false;
    }
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        error = with_errno(dir, errno);  // ENOTDIR / ELOOP: a file or symlink in its place
        return false;
    }
    if (::fchmod(fd.get(), mode.mode) != 0) {
        error = with_errno("fchmod " + dir, errno);
        return false;
    }
    if ((mode.owner || mode.group) &&
        ::fchown(fd.get(), mode.owner.value_or(static_cast<uid_t>(-1)), mode.group.value_or(static_cast<gid_t>(-1))) != 0) {
        error = with_errno("fchown " + dir, errno);
        return false;
    }
    return true;
}

bool write_member_entry(const std::string& dir, const MemberEntry& entry, const StateFileMode& mode,
                        std::string& error) {
    if (!is_member_file_name(entry.member.unix_name)) {
        error = "not a member's file name: " + entry.member.unix_name.substr(0, 40);
        return false;
    }
    return write_file_atomically(path_in(dir, entry.member.unix_name), member_entry_to_json(entry), mode, error,
                                 nullptr, /*sync_directory=*/false);
}

bool remove_member_entry(const std::string& dir, std::string_view name, std::string& error) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) {
        error = "not a file name in " + dir;
        return false;
    }
    const std::string path = path_in(dir, name);
    if (::unlink(path.c_str()) == 0 || errno == ENOENT) return true;
    error = with_errno("unlink " + path, errno);
    return false;
}

bool write_state_header(const std::string& dir, const LoginState& state, const StateFileMode& mode,
                        std::string& error, FileIdentity* written) {
    return write_file_atomically(path_in(dir, kStateHeaderName), header_to_json(state), mode, error, written);
}

bool remove_state_header(const std::string& dir, std::string& error) {
    return remove_member_entry(dir, kStateHeaderName, error);
}

bool touch_state_header(const std::string& dir, std::string& error, const FileIdentity* expected) {
    return touch_state_file(path_in(dir, kStateHeaderName), error, expected);
}

bool write_whole_state_dir(const std::string& dir, const LoginState& state, const StateFileMode& file_mode,
                           const StateFileMode& dir_mode, std::string& error) {
    if (!prepare_state_dir(dir, dir_mode, error)) return false;
    auto names = list_state_dir(dir, error);
    if (!names) return false;
    for (const auto& name : *names) {
        const bool kept = name == kStateHeaderName ||
                          std::any_of(state.members.begin(), state.members.end(),
                                      [&](const LoginMember& m) { return m.unix_name == name; });
        if (!kept && !remove_member_entry(dir, name, error)) return false;
    }
    for (const auto& m : state.members)
        if (!write_member_entry(dir, MemberEntry{state.account_id, state.revision, m}, file_mode, error)) return false;
    return write_state_header(dir, state, file_mode, error);
}

std::optional<std::vector<std::string>> list_state_dir(const std::string& dir, std::string& error) {
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
    if (!d) {
        error = with_errno("opendir " + dir, errno);
        return std::nullopt;
    }
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* e = ::readdir(d.get())) {
        const std::string_view name = e->d_name;
        if (name != "." && name != "..") names.emplace_back(name);
        errno = 0;
    }
    if (errno != 0) {
        error = with_errno("readdir " + dir, errno);
        return std::nullopt;
    }
    return names;
}

}  // namespace portal::ipc
