#include "keyd/tfa/base64.h"

#include <openssl/evp.h>

#include <climits>
#include <stdexcept>

namespace portal::tfa {
namespace {

int to_int(std::size_t n) {
    if (n > static_cast<std::size_t>(INT_MAX) / 2) throw std::length_error("base64: input too large");
    return static_cast<int>(n);
}

bool is_symbol(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

std::string base64_encode(std::span<const std::uint8_t> in) {
    std::string out(4 * ((in.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), in.data(), to_int(in.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view in, std::size_t max_len) {
    if (in.size() > max_len || in.size() % 4 != 0) return std::nullopt;
    std::vector<std::uint8_t> out(in.size() / 4 * 3);
    if (in.empty()) return out;
    std::size_t pad = 0;
    while (pad < 2 && in[in.size() - 1 - pad] == '=') ++pad;
    for (std::size_t i = 0; i < in.size() - pad; ++i)
        if (!is_symbol(in[i])) return std::nullopt;
    // EVP_DecodeBlock alone would accept whitespace and count padding as zero bytes.
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()), to_int(in.size()));
    if (n < 0 || static_cast<std::size_t>(n) < pad) return std::nullopt;
    out.resize(static_cast<std::size_t>(n) - pad);
    // The bits after the last byte must be zero ("Zh==" is not "Zg=="): found by fuzz/base64_fuzz.
    if (base64_encode(out) != in) return std::nullopt;
    return out;
}

}  // namespace portal::tfa
