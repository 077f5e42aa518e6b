#include "keyd/login/state_dir_manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "shared/ipc/state_dir.h"
#include "shared/ipc/state_file.h"
#include "shared/ipc/unique_fd.h"
#include "shared/model.h"

namespace portal::login {

namespace {

constexpr std::string_view kFirstLine = "portal-keyd state manifest 1";

struct Fnv {
    std::uint64_t h = 1469598103934665603ull;
    void bytes(std::string_view s) {
        for (unsigned char c : s) {
            h ^= c;
            h *= 1099511628211ull;
        }
    }
    void number(std::uint64_t v) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, v);
        text(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    }
    void text(std::string_view s) {  // length first: "ab"+"c" and "a"+"bc" differ
        const std::string n = std::to_string(s.size()) + ":";
        bytes(n);
        bytes(s);
    }
};

bool visible(std::string_view s) {
    for (unsigned char c : s)
        if (c <= ' ' || c >= 0x7f) return false;
    return !s.empty() && s.size() <= 256;
}

std::optional<std::uint64_t> decimal(std::string_view s) {
    std::uint64_t v = 0;
    if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> hex16(std::string_view s) {
    if (s.size() != 16) return std::nullopt;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
    std::uint64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v, 16);
    return v;
}

}  // namespace

std::uint64_t member_digest(const ipc::LoginMember& m) {
    Fnv f;
    f.text(m.unix_name);
    f.number(m.uid);
    f.text(m.user_id);
    f.text(to_string(m.role));
    f.text(to_string(m.status));
    f.number(m.tfa_enabled ? 1 : 0);
    f.number(m.published ? 1 : 0);
    f.number(m.keys.size());
    for (const auto& k : m.keys) {
        f.text(k.line);
        f.text(k.fingerprint_sha256);
    }
    return f.h;
}

std::string manifest_to_text(const StateDirManifest& manifest) {
    std::string out;
    out.reserve(64 + manifest.entries.size() * 40);
    out += kFirstLine;
    out += "\naccount ";
    out += manifest.account_id;
    out += "\nrevision ";
    out += std::to_string(manifest.revision);
    out += '\n';
    char digest[17];
    for (const auto& [name, d] : manifest.entries) {
        std::snprintf(digest, sizeof digest, "%016llx", static_cast<unsigned long long>(d));
        out += digest;
        out += ' ';
        out += name;
        out += '\n';
    }
    return out;
}

std::optional<StateDirManifest> manifest_from_text(std::string_view text, std::string& error) {
    error.clear();
    StateDirManifest m;
    std::size_t line_no = 0;
    auto fail = [&](const std::string& what) -> std::optional<StateDirManifest> {
        error = "line " + std::to_string(line_no) + ": " + what;
        return std::nullopt;
    };
    if (text.size() > kMaxManifestBytes) return fail("too large");
    while (!text.empty()) {
        ++line_no;
        const auto nl = text.find('\n');
        if (nl == std::string_view::npos) return fail("not ended by a newline");
        const std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        if (line_no == 1) {
            if (line != kFirstLine) return fail("not a state manifest of this version");
        } else if (line_no == 2) {
            if (line.substr(0, 8) != "account " || !visible(line.substr(8))) return fail("account: expected an id");
            m.account_id = std::string(line.substr(8));
        } else if (line_no == 3) {
            const auto v = line.substr(0, 9) == "revision " ? decimal(line.substr(9)) : std::nullopt;
            if (!v) return fail("revision: expected a decimal number");
            m.revision = *v;
        } else {
            const auto d = line.size() > 17 && line[16] == ' ' ? hex16(line.substr(0, 16)) : std::nullopt;
            if (!d) return fail("expected <16 hex digits> <name>");
            const std::string_view name = line.substr(17);
            if (!ipc::is_member_file_name(name)) return fail("not a member file name");
            if (!m.entries.emplace(std::string(name), *d).second) return fail("a name listed twice");
        }
    }
    if (line_no < 3) return fail("incomplete");
    return m;
}

bool write_manifest(const std::string& dir, const ipc::LoginState& state, std::string& error) {
    StateDirManifest m;
    m.account_id = state.account_id;
    m.revision = state.revision;
    m.entries.reserve(state.members.size());
    for (const auto& member : state.members)
        if (ipc::is_member_file_name(member.unix_name)) m.entries.emplace(member.unix_name, member_digest(member));
    ipc::StateFileMode mode;
    mode.mode = 0600;
    return ipc::write_file_atomically(dir + "/" + kManifestName, manifest_to_text(m), mode, error);
}

std::optional<StateDirManifest> take_manifest(const std::string& dir, std::string& error, bool& left_behind) {
    error.clear();
    left_behind = false;
    const std::string path = dir + "/" + kManifestName;
    ipc::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    const int open_errno = errno;
    // Gone before anything else happens to the directory, whatever it is (unreadable, a
    // symlink): while it exists it must be true.
    if (!fd && open_errno == ENOENT) return std::nullopt;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        error = path + ": cannot remove: " + std::strerror(errno);
        left_behind = true;
        return std::nullopt;
    }
    if (!fd) {
        error = path + ": " + std::strerror(open_errno);
        return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) error = path + ": " + std::strerror(errno);
    else if (!S_ISREG(st.st_mode)) error = path + ": not a regular file";
    else if (st.st_uid != ::geteuid()) error = path + ": not owned by this daemon's user";
    else if (st.st_mode & 077) error = path + ": readable or writable by others";
    else if (static_cast<std::uint64_t>(st.st_size) > kMaxManifestBytes) error = path + ": too large";
    if (!error.empty()) return std::nullopt;
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    if (got != text.size()) {
        error = path + ": short read";
        return std::nullopt;
    }
    auto m = manifest_from_text(text, error);
    if (!m) error = path + ": " + error;
    return m;
}

}  // namespace portal::login
