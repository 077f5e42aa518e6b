#include "keyd/portalctl/session_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "keyd/portalctl/cli.h"

namespace portal::ctl {
namespace {

constexpr std::size_t kMaxTokenBytes = 2048;  // the token and the portal's URL

CliError file_error(const std::filesystem::path& p, const std::string& why) {
    return CliError(kExitUsage, "session file " + p.string() + ": " + why);
}

void make_private_dir(const std::filesystem::path& dir) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw file_error(dir, std::string("cannot make the directory: ") + std::strerror(errno));
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
        throw file_error(dir, "not a directory of yours");
    if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0)
        throw file_error(dir, std::string("cannot make it private: ") + std::strerror(errno));
}

}  // namespace

std::filesystem::path session_file_path() {
    std::filesystem::path base;
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && xdg[0] == '/') base = xdg;
    else if (const char* home = std::getenv("HOME"); home && home[0] == '/') base = std::filesystem::path(home) / ".config";
    else throw CliError(kExitUsage, "neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the session");
    return base / "portalctl" / "session";
}

Session read_session() {
    const char* xdg = std::getenv("XDG_CONFIG_HOME");
    const char* home = std::getenv("HOME");
    if (!(xdg && xdg[0] == '/') && !(home && home[0] == '/')) return {};  // a service's environment
    const auto path = session_file_path();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        // None, or a home that is not ours to read (sudo, setpriv): no session.
        if (errno == ENOENT || errno == EACCES || errno == ENOTDIR) return {};
        throw file_error(path, std::strerror(errno));
    }
    struct stat st {};
    std::string token(kMaxTokenBytes + 1, '\0');
    ssize_t n = -1;
    const bool stat_ok = ::fstat(fd, &st) == 0;
    if (stat_ok && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 077) == 0)
        n = ::read(fd, token.data(), token.size());
    ::close(fd);
    if (!stat_ok || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
        // Someone else's session (root under sudo with the user's HOME) is never used.
        std::cerr << "portalctl: ignoring " << path.string() << ": not a regular file of yours\n";
        return {};
    }
    if ((st.st_mode & 077) != 0)
        throw file_error(path, "others may read it: remove it and sign in again (portalctl login)");
    if (n < 0) throw file_error(path, std::strerror(errno));
    if (static_cast<std::size_t>(n) > kMaxTokenBytes) throw file_error(path, "too large to hold a token");
    token.resize(static_cast<std::size_t>(n));
    // Two lines: the token, then the portal that made it.
    Session out;
    const auto nl = token.find('\n');
    out.token = token.substr(0, nl);
    if (nl != std::string::npos) {
        out.portal = token.substr(nl + 1);
        while (!out.portal.empty() && (out.portal.back() == '\n' || out.portal.back() == '\r')) out.portal.pop_back();
    }
    if (out.portal.empty() || out.token.find_first_of("\r ") != std::string::npos)
        throw file_error(path, "not a session portalctl login wrote: remove it and sign in again");
    return out;
}

namespace {

// Replaces `name` in portalctl's config directory at once (a new file renamed over the old
// one), mode 0600; the directories it needs are made 0700.
void write_private_file(const std::string& name, const std::string& content) {
    const auto path = session_file_path().parent_path() / name;
    const auto config_home = path.parent_path().parent_path();
    if (::mkdir(config_home.c_str(), 0700) != 0 && errno != EEXIST)
        throw file_error(config_home, std::string("cannot make the directory: ") + std::strerror(errno));
    make_private_dir(path.parent_path());
    const auto tmp = path.parent_path() / ("." + name + ".new");
    ::unlink(tmp.c_str());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw file_error(tmp, std::strerror(errno));
    const bool written = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
                         ::fsync(fd) == 0;
    const int write_errno = errno;
    ::close(fd);
    if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
        const int e = written ? errno : write_errno;
        ::unlink(tmp.c_str());
        throw file_error(path, std::strerror(e));
    }
}

}  // namespace

void write_session(const Session& s) { write_private_file("session", s.token + "\n" + s.portal + "\n"); }

std::filesystem::path selected_account_path() { return session_file_path().parent_path() / "account"; }

std::string read_selected_account() {
    const char* xdg = std::getenv("XDG_CONFIG_HOME");
    const char* home = std::getenv("HOME");
    if (!(xdg && xdg[0] == '/') && !(home && home[0] == '/')) return {};
    const auto path = selected_account_path();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return {};  // none selected (or a home that is not ours: sudo)
    struct stat st {};
    std::string id(129, '\0');
    ssize_t n = -1;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid()) n = ::read(fd, id.data(), id.size());
    ::close(fd);
    if (n < 0) return {};  // not a file of ours: someone else's choice is never ours
    id.resize(static_cast<std::size_t>(n));
    while (!id.empty() && (id.back() == '\n' || id.back() == '\r')) id.pop_back();
    const bool plain = !id.empty() && id.size() <= 128 &&
                       id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
                           std::string::npos;
    if (!plain) throw file_error(path, "not an account id: run portalctl accounts use ID again");
    return id;
}

void write_selected_account(const std::string& id) { write_private_file("account", id + "\n"); }

bool clear_selected_account() {
    if (::unlink(selected_account_path().c_str()) == 0) return true;
    if (errno == ENOENT) return false;
    throw file_error(selected_account_path(), std::strerror(errno));
}

bool remove_session_token() {
    const auto path = session_file_path();
    if (::unlink(path.c_str()) == 0) return true;
    if (errno == ENOENT) return false;
    throw file_error(path, std::strerror(errno));
}

}  // namespace portal::ctl
