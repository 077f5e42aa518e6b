#include "shared/ssh_key.h"

#include <libssh/libssh.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace portal {

namespace {

struct SshKeyFree {
    void operator()(ssh_key_struct* k) const { ssh_key_free(k); }
};
using SshKeyPtr = std::unique_ptr<ssh_key_struct, SshKeyFree>;

struct SshCharFree {
    void operator()(char* s) const { ssh_string_free_char(s); }
};
using SshCharPtr = std::unique_ptr<char, SshCharFree>;

struct SshHashFree {
    void operator()(unsigned char* h) const { ssh_clean_pubkey_hash(&h); }
};
using SshHashPtr = std::unique_ptr<unsigned char, SshHashFree>;

struct AllowedType {
    std::string_view name;
    ssh_keytypes_e libssh_type;
    int fixed_bits;  // 0: read from the key (RSA)
};

// The allow-list. ssh-keygen -l reports 256 for both Ed25519 flavours and the curve size
// for ECDSA.
constexpr std::array<AllowedType, 7> kAllowedTypes{{
    {"ssh-ed25519", SSH_KEYTYPE_ED25519, 256},
    {"ecdsa-sha2-nistp256", SSH_KEYTYPE_ECDSA_P256, 256},
    {"ecdsa-sha2-nistp384", SSH_KEYTYPE_ECDSA_P384, 384},
    {"ecdsa-sha2-nistp521", SSH_KEYTYPE_ECDSA_P521, 521},
    {"ssh-rsa", SSH_KEYTYPE_RSA, 0},
    {"sk-ssh-ed25519@openssh.com", SSH_KEYTYPE_SK_ED25519, 256},
    {"sk-ecdsa-sha2-nistp256@openssh.com", SSH_KEYTYPE_SK_ECDSA, 256},
}};

const AllowedType* find_allowed(std::string_view name) {
    for (const auto& t : kAllowedTypes) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

// authorized_keys options that take no value; with '=' or ',' these are how an options
// prefix starts (OpenSSH treats a first word that is not a key type as options).
constexpr std::array<std::string_view, 12> kFlagOptions{
    "agent-forwarding", "cert-authority",  "no-agent-forwarding", "no-port-forwarding",
    "no-pty",           "no-user-rc",      "no-X11-forwarding",   "port-forwarding",
    "pty",              "restrict",        "user-rc",             "X11-forwarding"};

bool looks_like_options(std::string_view word) {
    if (word.find_first_of("=,\"") != std::string_view::npos) return true;
    for (auto opt : kFlagOptions) {
        if (word.size() == opt.size()) {
            bool same = true;
            for (std::size_t i = 0; i < word.size() && same; ++i) {
                char a = word[i], b = opt[i];
                if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
                if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
                same = a == b;
            }
            if (same) return true;
        }
    }
    return false;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::optional<SshKeyError> check_characters(std::string_view line) {
    for (char ch : line) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\n' || c == '\r') return SshKeyError{"the key must be a single line (line break found)"};
        if (c == 0) return SshKeyError{"the key contains a NUL byte"};
        if (c >= 0x80) return SshKeyError{"the key contains non-ASCII characters"};
        if ((c < 0x20 && c != '\t') || c == 0x7f) return SshKeyError{"the key contains control characters"};
    }
    return std::nullopt;
}

std::optional<SshKeyError> reject_type_word(std::string_view word) {
    if (word == "ssh-dss") return SshKeyError{"DSA keys are not allowed"};
    if (ends_with(word, "-cert-v01@openssh.com")) return SshKeyError{"certificates are not allowed, only plain public keys"};
    if (looks_like_options(word)) return SshKeyError{"key options (e.g. command=\"...\") before the key type are not allowed"};
    return SshKeyError{
        "unsupported key type; allowed: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (at least 2048 bits), "
        "sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com"};
}

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Strict standard base64 with padding: what OpenSSH writes and libssh re-encodes.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view in) {
    if (in.empty() || in.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    if (in.back() == '=') pad = (in[in.size() - 2] == '=') ? 2 : 1;
    std::vector<std::uint8_t> out;
    out.reserve(in.size() / 4 * 3);
    for (std::size_t i = 0; i < in.size(); i += 4) {
        const bool last = i + 4 == in.size();
        std::uint32_t acc = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            const char c = in[i + j];
            int v = 0;
            if (c == '=') {
                if (!last || j < 4 - pad) return std::nullopt;
            } else {
                v = base64_value(c);
                if (v < 0) return std::nullopt;
            }
            acc = (acc << 6) | static_cast<std::uint32_t>(v);
        }
        out.push_back(static_cast<std::uint8_t>(acc >> 16));
        if (!last || pad < 2) out.push_back(static_cast<std::uint8_t>(acc >> 8));
        if (!last || pad < 1) out.push_back(static_cast<std::uint8_t>(acc));
    }
    return out;
}

// Reads RFC 4251 length-prefixed strings out of a blob libssh has already accepted; used
// only to compare the inner type name and to size the RSA modulus (libssh 0.10 has no
// public ssh_key_size()).
class WireReader {
public:
    explicit WireReader(const std::vector<std::uint8_t>& data) : data_(data) {}

    std::optional<std::string_view> string() {
        if (data_.size() - pos_ < 4) return std::nullopt;
        const std::size_t len = (std::size_t{data_[pos_]} << 24) | (std::size_t{data_[pos_ + 1]} << 16) |
                                (std::size_t{data_[pos_ + 2]} << 8) | std::size_t{data_[pos_ + 3]};
        pos_ += 4;
        if (data_.size() - pos_ < len) return std::nullopt;
        std::string_view s(reinterpret_cast<const char*>(data_.data()) + pos_, len);
        pos_ += len;
        return s;
    }

private:
    const std::vector<std::uint8_t>& data_;
    std::size_t pos_ = 0;
};

int mpint_bits(std::string_view mpint) {
    std::size_t i = 0;
    while (i < mpint.size() && mpint[i] == '\0') ++i;
    if (i == mpint.size()) return 0;
    auto top = static_cast<unsigned char>(mpint[i]);
    int bits = static_cast<int>((mpint.size() - i - 1) * 8);
    while (top != 0) {
        ++bits;
        top = static_cast<unsigned char>(top >> 1);
    }
    return bits;
}

std::string colon_hex(const unsigned char* p, std::size_t n) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 3);
    for (std::size_t i = 0; i < n; ++i) {
        if (i != 0) out.push_back(':');
        out.push_back(kHex[p[i] >> 4]);
        out.push_back(kHex[p[i] & 0x0f]);
    }
    return out;
}

std::optional<SshHashPtr> publickey_hash(ssh_key key, ssh_publickey_hash_type type, std::size_t& len) {
    unsigned char* raw = nullptr;
    if (ssh_get_publickey_hash(key, type, &raw, &len) != SSH_OK || raw == nullptr) {
        if (raw != nullptr) ssh_clean_pubkey_hash(&raw);
        return std::nullopt;
    }
    return SshHashPtr(raw);
}

}  // namespace

std::string ParsedSshKey::normalized() const { return type + " " + base64; }

std::variant<ParsedSshKey, SshKeyError> parse_ssh_public_key(std::string_view line) {
    if (line.empty()) return SshKeyError{"the key is empty"};
    if (auto err = check_characters(line)) return *err;
    if (is_blank(line.front())) return SshKeyError{"the key must not start with whitespace"};

    // Fields: type, blob, optional comment (the rest of the line).
    std::size_t pos = 0;
    auto next_word = [&]() {
        const std::size_t start = pos;
        while (pos < line.size() && !is_blank(line[pos])) ++pos;
        return line.substr(start, pos - start);
    };
    auto skip_blanks = [&]() {
        while (pos < line.size() && is_blank(line[pos])) ++pos;
    };

    const std::string_view type_word = next_word();
    const AllowedType* allowed = find_allowed(type_word);
    if (allowed == nullptr) return *reject_type_word(type_word);

    skip_blanks();
    const std::string_view blob = next_word();
    if (blob.empty()) return SshKeyError{"the key data is missing after the key type"};
    if (blob.size() > kSshKeyMaxBase64) return SshKeyError{"the key data is too long (over 16 KiB)"};

    skip_blanks();
    std::string_view comment = line.substr(pos);
    while (!comment.empty() && is_blank(comment.back())) comment.remove_suffix(1);
    if (comment.size() > kSshKeyMaxComment) return SshKeyError{"the key comment is too long (over 256 characters)"};

    const auto decoded = base64_decode(blob);
    if (!decoded) return SshKeyError{"the key data is not valid base64"};
    WireReader reader(*decoded);
    const auto inner_type = reader.string();
    if (!inner_type) return SshKeyError{"the key data is truncated"};
    if (*inner_type != type_word) {
        if (ends_with(*inner_type, "-cert-v01@openssh.com")) {
            return SshKeyError{"certificates are not allowed, only plain public keys"};
        }
        return SshKeyError{"the key type " + std::string(type_word) + " does not match the type inside the key data"};
    }

    // libssh ignores the type name inside the blob and parses by the type we give it.
    const std::string blob_str(blob);
    ssh_key raw_key = nullptr;
    if (ssh_pki_import_pubkey_base64(blob_str.c_str(), allowed->libssh_type, &raw_key) != SSH_OK ||
        raw_key == nullptr) {
        if (raw_key != nullptr) ssh_key_free(raw_key);
        return SshKeyError{"the key data is not a valid " + std::string(type_word) + " key"};
    }
    const SshKeyPtr key(raw_key);
    if (ssh_key_type(key.get()) != allowed->libssh_type) {
        return SshKeyError{"the key data is not a valid " + std::string(type_word) + " key"};
    }

    // Re-encoding must give back exactly the input: nothing appended inside the blob,
    // no non-canonical encoding that other parsers might read differently.
    char* raw_export = nullptr;
    if (ssh_pki_export_pubkey_base64(key.get(), &raw_export) != SSH_OK || raw_export == nullptr) {
        if (raw_export != nullptr) ssh_string_free_char(raw_export);
        return SshKeyError{"the key could not be re-encoded"};
    }
    const SshCharPtr exported(raw_export);
    if (blob != std::string_view(exported.get())) {
        return SshKeyError{"the key data has trailing or non-canonical content"};
    }

    int bits = allowed->fixed_bits;
    if (allowed->libssh_type == SSH_KEYTYPE_RSA) {
        const auto e = reader.string();
        const auto n = e ? reader.string() : std::nullopt;
        if (!n) return SshKeyError{"the key data is truncated"};
        bits = mpint_bits(*n);
        if (bits < kSshKeyMinRsaBits) return SshKeyError{"RSA keys must be at least 2048 bits"};
        if (bits > kSshKeyMaxRsaBits) return SshKeyError{"RSA keys must be at most 16384 bits"};
    }

    std::size_t md5_len = 0, sha256_len = 0;
    const auto md5 = publickey_hash(key.get(), SSH_PUBLICKEY_HASH_MD5, md5_len);
    const auto sha256 = publickey_hash(key.get(), SSH_PUBLICKEY_HASH_SHA256, sha256_len);
    if (!md5 || !sha256 || md5_len != 16 || sha256_len != 32) {
        return SshKeyError{"the key fingerprint could not be computed"};
    }
    // libssh formats SHA256 exactly like ssh-keygen: "SHA256:" + unpadded base64.
    const SshCharPtr sha256_text(ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, sha256->get(), sha256_len));
    if (!sha256_text) return SshKeyError{"the key fingerprint could not be computed"};

    ParsedSshKey out;
    out.type = std::string(type_word);
    out.base64 = blob_str;
    out.comment = std::string(comment);
    out.bits = bits;
    out.fingerprint_md5 = colon_hex(md5->get(), md5_len);
    out.fingerprint_sha256 = sha256_text.get();
    if (out.fingerprint_sha256.rfind("SHA256:", 0) != 0 || out.fingerprint_sha256.back() == '=') {
        return SshKeyError{"the key fingerprint could not be computed"};
    }
    return out;
}

}  // namespace portal
