#include "keyd/tfa/secret_box.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "keyd/tfa/base64.h"
#include "shared/random.h"
#include "shared/ipc/blocking_io.h"

namespace portal {

struct SecretBox::Key {
    std::array<std::uint8_t, kKeySize> bytes{};
    Key() = default;
    Key(const Key&) = delete;
    Key& operator=(const Key&) = delete;
    ~Key() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

namespace {

constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;
constexpr std::string_view kPrefix = "v1:";
// Domain separation: the associated data names the scheme as well as the context.
constexpr std::string_view kAadLabel = "portal-keyd/secret_box/v1";

class Fd {
public:
    explicit Fd(int fd = -1) noexcept : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            if (fd_ >= 0) ::close(fd_);
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_;
};

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

[[noreturn]] void fail(const std::filesystem::path& p, const std::string& why) {
    throw std::runtime_error("secret box key file " + p.string() + ": " + why);
}

// Reads errno before anything else can change it.
[[noreturn]] void fail_errno(const std::filesystem::path& p, const char* what) {
    const int e = errno;
    fail(p, std::string(what) + ": " + std::strerror(e));
}

std::string aad_for(std::string_view context) {
    std::string aad(kAadLabel);
    aad.push_back('\0');
    aad.append(context);
    return aad;
}

int to_int(std::size_t n) {
    if (n > static_cast<std::size_t>(INT_MAX)) throw std::length_error("secret box: input too large");
    return static_cast<int>(n);
}

void fsync_dir(const std::filesystem::path& dir) {
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d) ::fsync(d.get());  // best effort: the key itself is already durable
}

// Writes a fresh key to a private temp file, fsyncs it, then link()s it into place:
// readers never see a partly written key, and link() fails with EEXIST (instead of
// replacing) if another process created the key first.
void create_key_file(const std::filesystem::path& key_file) {
    const std::filesystem::path dir = key_file.has_parent_path() ? key_file.parent_path() : ".";
    const auto tag = random_id("");
    std::filesystem::path tmp = key_file;
    tmp += ".tmp-" + tag;

    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
        const int e = errno;
        fail(key_file, "cannot create temporary file " + tmp.string() + ": " + std::strerror(e));
    }
    struct Unlink {
        const std::filesystem::path& p;
        ~Unlink() { ::unlink(p.c_str()); }
    } unlink_tmp{tmp};

    auto key = random_bytes(SecretBox::kKeySize);
    const bool written = ipc::write_fully(fd.get(), std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
    const int write_errno = errno;
    OPENSSL_cleanse(key.data(), key.size());
    if (!written) fail(key_file, std::string("cannot write new key: ") + std::strerror(write_errno));
    if (::fsync(fd.get()) != 0) fail_errno(key_file, "cannot fsync new key");

    if (::link(tmp.c_str(), key_file.c_str()) != 0) {
        if (errno == EEXIST) return;  // lost a race: the caller loads the winner's key
        fail_errno(key_file, "cannot create");
    }
    fsync_dir(dir);
}

}  // namespace

SecretBox::SecretBox(std::unique_ptr<Key> key) : key_(std::move(key)) {}
SecretBox::SecretBox(SecretBox&&) noexcept = default;
SecretBox& SecretBox::operator=(SecretBox&&) noexcept = default;
SecretBox::~SecretBox() = default;

SecretBox SecretBox::load_or_create(const std::filesystem::path& key_file) {
    // O_NOFOLLOW: a symlink is refused (ELOOP); O_NONBLOCK: a FIFO cannot hang us.
    constexpr int kFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    Fd fd(::open(key_file.c_str(), kFlags));
    if (!fd && errno == ENOENT) {
        create_key_file(key_file);
        fd = Fd(::open(key_file.c_str(), kFlags));
    }
    if (!fd) {
        const int e = errno;
        if (e == ELOOP) fail(key_file, "is a symbolic link");
        fail(key_file, std::string("cannot open: ") + std::strerror(e));
    }

    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail_errno(key_file, "cannot stat");
    if (!S_ISREG(st.st_mode)) fail(key_file, "is not a regular file");
    if (st.st_uid != ::geteuid())
        fail(key_file, "is owned by uid " + std::to_string(st.st_uid) + ", not by uid " + std::to_string(::geteuid()));
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        fail(key_file, std::string("has mode ") + mode + ", must not be accessible by group or others (use 0600)");
    }
    if (st.st_size != static_cast<off_t>(kKeySize))
        fail(key_file, "has " + std::to_string(st.st_size) + " bytes, expected " + std::to_string(kKeySize));

    auto key = std::make_unique<Key>();
    std::size_t got = 0;
    while (got < kKeySize) {
        const ssize_t r = ::read(fd.get(), key->bytes.data() + got, kKeySize - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail_errno(key_file, "cannot read");
        if (r == 0) fail(key_file, "is shorter than " + std::to_string(kKeySize) + " bytes");
        got += static_cast<std::size_t>(r);
    }
    return SecretBox(std::move(key));
}

std::string SecretBox::seal(std::span<const std::uint8_t> plaintext, std::string_view context) const {
    if (!key_) throw std::logic_error("SecretBox: use of a moved-from box");
    const std::string aad = aad_for(context);
    const int pt_len = to_int(plaintext.size());

    std::vector<std::uint8_t> out = random_bytes(kNonceSize);
    out.resize(kNonceSize + plaintext.size() + kTagSize);
    std::uint8_t* ct = out.data() + kNonceSize;

    CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    int len = 0;
    int total = 0;
    bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceSize), nullptr) == 1 &&
              EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key_->bytes.data(), out.data()) == 1 &&
              EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                                to_int(aad.size())) == 1;
    if (ok && pt_len > 0) {
        ok = EVP_EncryptUpdate(ctx.get(), ct, &len, plaintext.data(), pt_len) == 1;
        total = len;
    }
    ok = ok && EVP_EncryptFinal_ex(ctx.get(), ct + total, &len) == 1;
    total += len;
    ok = ok && total == pt_len &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize), ct + total) == 1;
    if (!ok) throw std::runtime_error("secret box: AES-256-GCM encryption failed");
    return std::string(kPrefix) + tfa::base64_encode(out);
}

std::optional<std::vector<std::uint8_t>> SecretBox::open(std::string_view sealed, std::string_view context) const {
    if (!key_) throw std::logic_error("SecretBox: use of a moved-from box");
    if (!sealed.starts_with(kPrefix)) return std::nullopt;
    // Sealed TOTP secrets are well under 1 KiB; anything far larger is not one of ours.
    auto raw = tfa::base64_decode(sealed.substr(kPrefix.size()), 64 * 1024);
    if (!raw || raw->size() < kNonceSize + kTagSize) return std::nullopt;

    const std::string aad = aad_for(context);
    const std::size_t ct_size = raw->size() - kNonceSize - kTagSize;
    const std::uint8_t* nonce = raw->data();
    const std::uint8_t* ct = nonce + kNonceSize;
    std::uint8_t* tag = raw->data() + kNonceSize + ct_size;
    std::vector<std::uint8_t> plain(ct_size);

    CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    int len = 0;
    int total = 0;
    bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceSize), nullptr) == 1 &&
              EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key_->bytes.data(), nonce) == 1 &&
              EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                                to_int(aad.size())) == 1;
    if (ok && ct_size > 0) {
        ok = EVP_DecryptUpdate(ctx.get(), plain.data(), &len, ct, to_int(ct_size)) == 1;
        total = len;
    }
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize), tag) == 1;
    // The tag is checked here: a wrong key, context or any flipped bit fails.
    ok = ok && EVP_DecryptFinal_ex(ctx.get(), plain.data() + total, &len) == 1;
    if (!ok) {
        OPENSSL_cleanse(plain.data(), plain.size());
        return std::nullopt;
    }
    return plain;
}

}  // namespace portal
