#include "shared/random.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace portal {

std::vector<std::uint8_t> random_bytes(std::size_t n) {
    std::vector<std::uint8_t> out(n);
    // RAND_bytes takes an int length: fill in chunks.
    constexpr std::size_t kChunk = 1u << 20;
    for (std::size_t off = 0; off < n; off += kChunk) {
        const auto len = static_cast<int>(std::min(kChunk, n - off));
        if (RAND_bytes(out.data() + off, len) != 1) {
            const unsigned long err = ERR_get_error();
            char buf[256] = {};
            ERR_error_string_n(err, buf, sizeof buf);
            throw std::runtime_error(std::string("RAND_bytes failed: ") + buf);
        }
    }
    return out;
}

std::string random_id(std::string_view prefix) {
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";  // RFC 4648 base32, lower
    constexpr std::size_t kLen = 20;
    const auto bytes = random_bytes(kLen);
    std::string out(prefix);
    out.reserve(prefix.size() + kLen);
    // 256 is a multiple of 32, so the low five bits of each byte are uniform.
    for (const std::uint8_t b : bytes) out.push_back(kAlphabet[b & 0x1F]);
    return out;
}

std::string random_token(std::size_t bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    auto raw = random_bytes(bytes);
    std::string out;
    out.reserve((bytes * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= raw.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t{raw[i]} << 16) | (std::uint32_t{raw[i + 1]} << 8) | raw[i + 2];
        out.push_back(kAlphabet[(v >> 18) & 0x3F]);
        out.push_back(kAlphabet[(v >> 12) & 0x3F]);
        out.push_back(kAlphabet[(v >> 6) & 0x3F]);
        out.push_back(kAlphabet[v & 0x3F]);
    }
    if (const std::size_t rest = raw.size() - i; rest > 0) {
        std::uint32_t v = std::uint32_t{raw[i]} << 16;
        if (rest == 2) v |= std::uint32_t{raw[i + 1]} << 8;
        out.push_back(kAlphabet[(v >> 18) & 0x3F]);
        out.push_back(kAlphabet[(v >> 12) & 0x3F]);
        if (rest == 2) out.push_back(kAlphabet[(v >> 6) & 0x3F]);
    }
    OPENSSL_cleanse(raw.data(), raw.size());  // the token is a secret; keep one copy only
    return out;
}

}  // namespace portal
