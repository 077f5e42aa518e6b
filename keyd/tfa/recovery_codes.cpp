#include "keyd/tfa/recovery_codes.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>

#include "keyd/tfa/base64.h"
#include "shared/random.h"

namespace portal {
namespace {

// 31 symbols: digits 2-9 and lower-case letters without i, l, o.
constexpr std::string_view kAlphabet = "23456789abcdefghjkmnpqrstuvwxyz";
constexpr std::size_t kGroups = 3;
constexpr std::size_t kGroupLen = 4;
constexpr std::string_view kVersion = "v1";
constexpr int kIterations = 10000;
constexpr std::size_t kSaltSize = 16;
constexpr std::size_t kHashSize = 32;
// Far above a real code; keeps a hostile caller from hashing megabytes.
constexpr std::size_t kMaxCodeLen = 64;
// A stored salt or hash field, base64 (a few dozen characters when written by us).
constexpr std::size_t kMaxField = 256;

std::string normalize(std::string_view code) {
    std::string out;
    out.reserve(code.size());
    for (char c : code) {
        if (c == '-' || c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        out.push_back(c);
    }
    return out;
}

std::array<std::uint8_t, kHashSize> pbkdf2(const std::string& code, const std::uint8_t* salt, std::size_t salt_len) {
    std::array<std::uint8_t, kHashSize> out{};
    if (PKCS5_PBKDF2_HMAC(code.data(), static_cast<int>(code.size()), salt, static_cast<int>(salt_len), kIterations,
                          EVP_sha256(), static_cast<int>(out.size()), out.data()) != 1)
        throw std::runtime_error("recovery codes: PBKDF2 failed");
    return out;
}

std::string one_code() {
    std::string code;
    while (code.size() < kGroups * (kGroupLen + 1) - 1) {
        for (const std::uint8_t b : random_bytes(32)) {
            // Rejection sampling: 248 = 8 * 31 keeps the choice uniform.
            if (b >= 248) continue;
            if (code.size() % (kGroupLen + 1) == kGroupLen) code.push_back('-');
            code.push_back(kAlphabet[b % kAlphabet.size()]);
            if (code.size() == kGroups * (kGroupLen + 1) - 1) break;
        }
    }
    return code;
}

}  // namespace

std::vector<std::string> generate_recovery_codes(int count) {
    if (count < 0) throw std::invalid_argument("generate_recovery_codes: negative count");
    std::set<std::string> seen;
    std::vector<std::string> codes;
    codes.reserve(static_cast<std::size_t>(count));
    while (codes.size() < static_cast<std::size_t>(count)) {
        auto code = one_code();
        if (seen.insert(code).second) codes.push_back(std::move(code));
    }
    return codes;
}

std::string hash_recovery_code(std::string_view code) {
    std::string norm = normalize(code);
    if (norm.empty() || norm.size() > kMaxCodeLen)
        throw std::invalid_argument("hash_recovery_code: empty or oversized code");
    const auto salt = random_bytes(kSaltSize);
    auto dk = pbkdf2(norm, salt.data(), salt.size());
    OPENSSL_cleanse(norm.data(), norm.size());
    std::string out = std::string(kVersion) + "$" + tfa::base64_encode(salt) + "$" +
                      tfa::base64_encode(dk);
    OPENSSL_cleanse(dk.data(), dk.size());
    return out;
}

bool verify_recovery_code(std::string_view code, std::string_view stored_hash) {
    // stored_hash = "v1$<salt>$<hash>"
    if (!stored_hash.starts_with(kVersion) || stored_hash.size() <= kVersion.size() ||
        stored_hash[kVersion.size()] != '$')
        return false;
    const std::string_view rest = stored_hash.substr(kVersion.size() + 1);
    const auto dollar = rest.find('$');
    if (dollar == std::string_view::npos) return false;
    const auto salt = tfa::base64_decode(rest.substr(0, dollar), kMaxField);
    const auto expected = tfa::base64_decode(rest.substr(dollar + 1), kMaxField);
    if (!salt || !expected || salt->empty() || expected->size() != kHashSize) return false;

    std::string norm = normalize(code);
    if (norm.empty() || norm.size() > kMaxCodeLen) return false;
    auto dk = pbkdf2(norm, salt->data(), salt->size());
    OPENSSL_cleanse(norm.data(), norm.size());
    const bool match = CRYPTO_memcmp(dk.data(), expected->data(), kHashSize) == 0;
    OPENSSL_cleanse(dk.data(), dk.size());
    return match;
}

}  // namespace portal
