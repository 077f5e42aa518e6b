#include "shared/ipc/state_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/ipc/trust.h"
#include "shared/ipc/unique_fd.h"
#include "shared/ipc/blocking_io.h"

namespace portal::ipc {

namespace {

bool fail(std::string& error, const std::string& what, int err) {
    error = what + ": " + std::strerror(err);
    return false;
}

std::string dir_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

}  // namespace

std::optional<LoadedState> read_state_file(const std::string& path, std::string& error, std::time_t now,
                                           std::optional<std::string_view> only_member) {
    error.clear();
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        fail(error, path, errno);
        return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        fail(error, path, errno);
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) error = path + ": not a regular file";
    else if (!is_trusted_uid(st.st_uid)) error = path + ": not owned by root";
    else if (st.st_mode & (S_IWGRP | S_IWOTH)) error = path + ": writable by group or others";
    else if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) > kMaxStateFileBytes) error = path + ": too large";
    if (!error.empty()) return std::nullopt;

    // Read at most the limit + 1 so a file that grows after fstat is caught, not trusted.
    std::string text(static_cast<std::size_t>(st.st_size) + 1, '\0');
    std::size_t got = 0;
    for (;;) {
        if (got == text.size()) {
            if (text.size() > kMaxStateFileBytes) {
                error = path + ": too large";
                return std::nullopt;
            }
            text.resize(std::min(text.size() * 2, kMaxStateFileBytes + 1));
        }
        const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fail(error, path, errno);
            return std::nullopt;
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);

    std::string parse_error;
    auto state = login_state_from_json(text, parse_error, only_member);
    if (!state) {
        error = path + ": " + parse_error;
        return std::nullopt;
    }
    LoadedState out;
    out.state = std::move(*state);
    const std::int64_t age = static_cast<std::int64_t>(now) - static_cast<std::int64_t>(st.st_mtim.tv_sec);
    out.age_seconds = age > 0 ? age : 0;
    out.expired = out.age_seconds > out.state.grace_seconds;
    return out;
}

bool write_file_atomically(const std::string& path, std::string_view content, const StateFileMode& mode,
                           std::string& error, FileIdentity* written) {
    const std::string dir = dir_of(path);
    std::string tmp = path + ".XXXXXX";
    UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (!fd) return fail(error, "create temp file in " + dir, errno);
    struct Unlinker {  // removes the temp file unless it was renamed into place
        const std::string* p;
        ~Unlinker() {
            if (p) ::unlink(p->c_str());
        }
    } unlinker{&tmp};

    // Mode and owner first, so the content is never readable by more than intended.
    if (::fchmod(fd.get(), mode.mode) != 0) return fail(error, "fchmod " + tmp, errno);
    if (mode.owner || mode.group) {
        if (::fchown(fd.get(), mode.owner.value_or(static_cast<uid_t>(-1)), mode.group.value_or(static_cast<gid_t>(-1))) != 0)
            return fail(error, "fchown " + tmp, errno);
    }
    errno = 0;
    if (!write_fully(fd.get(), content)) return fail(error, "write " + tmp, errno ? errno : EIO);
    if (::fsync(fd.get()) != 0) return fail(error, "fsync " + tmp, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(error, "fstat " + tmp, errno);
    if (::close(fd.release()) != 0) return fail(error, "close " + tmp, errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(error, "rename to " + path, errno);
    unlinker.p = nullptr;
    if (written) *written = FileIdentity{st.st_dev, st.st_ino};

    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) return fail(error, "open " + dir, errno);
    if (::fsync(dfd.get()) != 0) return fail(error, "fsync " + dir, errno);
    return true;
}

bool write_state_file(const std::string& path, const LoginState& state, const StateFileMode& mode, std::string& error,
                      FileIdentity* written) {
    return write_file_atomically(path, to_json(state), mode, error, written);
}

bool touch_state_file(const std::string& path, std::string& error, const FileIdentity* expected) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return fail(error, path, errno);
    if (expected) {
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return fail(error, "fstat " + path, errno);
        if (FileIdentity{st.st_dev, st.st_ino} != *expected) {
            error = path + ": not the file this process wrote";
            return false;
        }
    }
    if (::futimens(fd.get(), nullptr) != 0) return fail(error, "futimens " + path, errno);
    return true;
}

}  // namespace portal::ipc
