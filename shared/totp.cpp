#include "shared/totp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <climits>
#include <stdexcept>

#include "shared/base32.h"

namespace portal {
namespace {

const EVP_MD* digest_for(TotpAlgorithm algorithm) {
    switch (algorithm) {
        case TotpAlgorithm::sha1: return EVP_sha1();
        case TotpAlgorithm::sha256: return EVP_sha256();
        case TotpAlgorithm::sha512: return EVP_sha512();
    }
    throw std::invalid_argument("unknown TOTP algorithm");
}

// Assumes validated params.
std::string hotp_unchecked(std::span<const std::uint8_t> secret, std::uint64_t counter, const TotpParams& params) {
    if (secret.size() > static_cast<std::size_t>(INT_MAX)) throw std::invalid_argument("TOTP secret too long");
    std::array<std::uint8_t, 8> message{};
    for (std::size_t i = 0; i < message.size(); ++i) {
        message[message.size() - 1 - i] = static_cast<std::uint8_t>(counter >> (8 * i));
    }
    std::array<std::uint8_t, EVP_MAX_MD_SIZE> mac{};
    unsigned int mac_len = 0;
    // A non-null key pointer even for an empty secret: HMAC() treats a null key as "reuse".
    static const std::uint8_t empty_key = 0;
    const std::uint8_t* key = secret.empty() ? &empty_key : secret.data();
    if (HMAC(digest_for(params.algorithm), key, static_cast<int>(secret.size()), message.data(), message.size(),
             mac.data(), &mac_len) == nullptr ||
        mac_len < 20) {
        throw std::runtime_error("HMAC failed");
    }
    // Dynamic truncation (RFC 4226 5.3).
    std::size_t offset = mac[mac_len - 1] & 0x0Fu;
    std::uint32_t binary = (static_cast<std::uint32_t>(mac[offset] & 0x7Fu) << 24) |
                           (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                           (static_cast<std::uint32_t>(mac[offset + 2]) << 8) |
                           static_cast<std::uint32_t>(mac[offset + 3]);
    OPENSSL_cleanse(mac.data(), mac.size());
    std::string code(static_cast<std::size_t>(params.digits), '0');
    for (std::size_t i = code.size(); i-- > 0;) {
        code[i] = static_cast<char>('0' + binary % 10);
        binary /= 10;
    }
    return code;
}

bool is_code_format(std::string_view code, int digits) {
    if (code.size() != static_cast<std::size_t>(digits)) return false;
    for (char c : code) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

void percent_encode(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                          c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0x0F]);
        }
    }
}

}  // namespace

void validate(const TotpParams& params) {
    if (params.algorithm != TotpAlgorithm::sha1 && params.algorithm != TotpAlgorithm::sha256 &&
        params.algorithm != TotpAlgorithm::sha512) {
        throw std::invalid_argument("TOTP algorithm must be SHA1, SHA256 or SHA512");
    }
    if (params.digits < 6 || params.digits > 8) throw std::invalid_argument("TOTP digits must be 6, 7 or 8");
    if (params.period != 30 && params.period != 60) throw std::invalid_argument("TOTP period must be 30 or 60");
}

std::string_view to_string(TotpAlgorithm algorithm) {
    switch (algorithm) {
        case TotpAlgorithm::sha1: return "SHA1";
        case TotpAlgorithm::sha256: return "SHA256";
        case TotpAlgorithm::sha512: return "SHA512";
    }
    return "unknown";
}

std::string hotp_code(std::span<const std::uint8_t> secret, std::uint64_t counter, const TotpParams& params) {
    validate(params);
    return hotp_unchecked(secret, counter, params);
}

std::string totp_code(std::span<const std::uint8_t> secret, std::int64_t unix_time, const TotpParams& params) {
    validate(params);
    if (unix_time < 0) throw std::invalid_argument("TOTP time before the epoch");
    return hotp_unchecked(secret, static_cast<std::uint64_t>(unix_time / params.period), params);
}

TotpCheck totp_verify(std::span<const std::uint8_t> secret, std::string_view code, std::int64_t unix_time,
                      std::int64_t last_accepted_step, const TotpParams& params) {
    validate(params);
    TotpCheck result;
    if (unix_time < 0 || !is_code_format(code, params.digits)) return result;
    const std::int64_t now = unix_time / params.period;
    // Every candidate is computed and compared, with no early exit, so timing does not tell
    // which step (if any) matched. On the (rare) collision the earliest eligible step wins.
    for (std::int64_t step = now + 1; step >= now - 1; --step) {
        if (step < 0) continue;
        std::string expected = hotp_unchecked(secret, static_cast<std::uint64_t>(step), params);
        bool match = CRYPTO_memcmp(expected.data(), code.data(), code.size()) == 0;
        OPENSSL_cleanse(expected.data(), expected.size());
        if (match && step > last_accepted_step) {
            result.ok = true;
            result.step = step;
        }
    }
    return result;
}

std::vector<std::uint8_t> totp_random_secret(std::size_t bytes) {
    if (bytes == 0 || bytes > static_cast<std::size_t>(INT_MAX)) {
        throw std::invalid_argument("TOTP secret size out of range");
    }
    std::vector<std::uint8_t> secret(bytes);
    if (RAND_bytes(secret.data(), static_cast<int>(bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
    return secret;
}

std::string otpauth_uri(std::string_view issuer, std::string_view account_name, std::span<const std::uint8_t> secret,
                        const TotpParams& params) {
    validate(params);
    std::string uri = "otpauth://totp/";
    if (!issuer.empty()) {
        percent_encode(uri, issuer);
        uri.push_back(':');
    }
    percent_encode(uri, account_name);
    uri += "?secret=";
    uri += base32_encode(secret);
    if (!issuer.empty()) {
        uri += "&issuer=";
        percent_encode(uri, issuer);
    }
    uri += "&algorithm=";
    uri += to_string(params.algorithm);
    uri += "&digits=";
    uri += std::to_string(params.digits);
    uri += "&period=";
    uri += std::to_string(params.period);
    return uri;
}

}  // namespace portal
