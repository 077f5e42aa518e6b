#include "shared/ipc/state_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

std::optional<std::string> read_private_file(int fd, const std::string& path, std::size_t max_bytes,
                                             mode_t forbidden_mode, std::string& error) {
    error.clear();
    struct stat st {};
    if (::fstat(fd, &st) != 0) error = path + ": " + std::strerror(errno);
    else if (!S_ISREG(st.st_mode)) error = path + ": not a regular file";
    else if (st.st_uid != ::geteuid()) error = path + ": not owned by this daemon's user";
    else if (st.st_mode & forbidden_mode)
        error = path + ((forbidden_mode & (S_IRGRP | S_IROTH)) ? ": readable or writable by others"
                                                                : ": writable by group or others");
    else if (static_cast<std::uint64_t>(st.st_size) > max_bytes) error = path + ": too large";
    if (!error.empty()) return std::nullopt;
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = path + ": " + std::strerror(errno);
            return std::nullopt;
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    // A file written atomically does not shrink; an appended one is read as long as it was.
    if (got != text.size()) {
        error = path + ": short read";
        return std::nullopt;
    }
    return text;
}

bool write_file_atomically(const std::string& path, std::string_view content, const StateFileMode& mode,
                           std::string& error, FileIdentity* written, bool sync_directory) {
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
    if (!sync_directory) return true;

    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) return fail(error, "open " + dir, errno);
    if (::fsync(dfd.get()) != 0) return fail(error, "fsync " + dir, errno);
    return true;
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
