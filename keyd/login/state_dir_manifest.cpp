#include "keyd/login/state_dir_manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "shared/ipc/state_dir.h"
#include "shared/ipc/state_file.h"
#include "shared/ipc/unique_fd.h"
#include "shared/model.h"

namespace portal::login {

namespace {

// 2: the digest covers a support member's access_until (a manifest 1 is not trusted: every
// entry is read back and rewritten where it differs).
constexpr std::string_view kFirstLine = "portal-keyd state manifest 2";

// The fields, each length-prefixed ("ab"+"c" and "a"+"bc" differ), as the digest's input.
struct Canonical {
    std::string bytes;
    void number(std::uint64_t v) { text(std::to_string(v)); }
    void text(std::string_view s) {
        bytes += std::to_string(s.size());
        bytes += ':';
        bytes += s;
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

constexpr std::size_t kDigestHex = 32;

// SHA-256 fetched once and a context per thread: EVP_Digest with EVP_sha256() fetches the
// algorithm from the provider and makes a context on every call, which was two thirds of the
// cost of 10,000 digests at start-up (30 -> 10 ms).
struct MdDeleter {
    void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

const EVP_MD* sha256() {
    static const std::unique_ptr<EVP_MD, MdDeleter> md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    if (!md) throw std::runtime_error("SHA-256 is not available");
    return md.get();
}

EVP_MD_CTX* digest_context() {
    thread_local const std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    if (!ctx) throw std::runtime_error("out of memory for a digest context");
    return ctx.get();
}

bool is_digest(std::string_view s) {
    if (s.size() != kDigestHex) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

std::string member_digest(const ipc::LoginMember& m) {
    Canonical f;
    f.bytes.reserve(128 + m.keys.size() * 160);
    f.text(m.unix_name);
    f.number(m.uid);
    f.text(m.user_id);
    f.text(to_string(m.role));
    f.text(to_string(m.status));
    f.number(m.tfa_enabled ? 1 : 0);
    f.number(m.published ? 1 : 0);
    f.text(m.access_until ? std::to_string(*m.access_until) : std::string());
    f.number(m.keys.size());
    for (const auto& k : m.keys) {
        f.text(k.line);
        f.text(k.fingerprint_sha256);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX* ctx = digest_context();
    if (EVP_DigestInit_ex2(ctx, sha256(), nullptr) != 1 || EVP_DigestUpdate(ctx, f.bytes.data(), f.bytes.size()) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &len) != 1 || len < kDigestHex / 2)
        throw std::runtime_error("SHA-256 failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(kDigestHex, '0');
    for (std::size_t i = 0; i < kDigestHex / 2; ++i) {
        out[2 * i] = kHex[md[i] >> 4];
        out[2 * i + 1] = kHex[md[i] & 0xf];
    }
    return out;
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
    for (const auto& [name, d] : manifest.entries) {
        out += d;
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
            if (line.size() <= kDigestHex + 1 || line[kDigestHex] != ' ' || !is_digest(line.substr(0, kDigestHex)))
                return fail("expected <32 hex digits> <name>");
            const std::string_view name = line.substr(kDigestHex + 1);
            if (!ipc::is_member_file_name(name)) return fail("not a member file name");
            if (!m.entries.emplace(std::string(name), std::string(line.substr(0, kDigestHex))).second)
                return fail("a name listed twice");
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
    const auto text = ipc::read_private_file(fd.get(), path, kMaxManifestBytes, 077, error);
    if (!text) return std::nullopt;
    auto m = manifest_from_text(*text, error);
    if (!m) error = path + ": " + error;
    return m;
}

}  // namespace portal::login
