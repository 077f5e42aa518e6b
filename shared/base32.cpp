#include "shared/base32.h"

namespace portal {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int decode_char(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

}  // namespace

std::string base32_encode(std::span<const std::uint8_t> data) {
    std::string out;
    out.reserve((data.size() * 8 + 4) / 5);
    std::uint32_t buffer = 0;  // never holds more than 12 bits
    int bits = 0;
    for (std::uint8_t byte : data) {
        buffer = (buffer << 8) | byte;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out.push_back(kAlphabet[(buffer >> bits) & 0x1Fu]);
        }
        buffer &= (1u << bits) - 1u;
    }
    if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 0x1Fu]);
    return out;
}

std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text) {
    std::vector<std::uint8_t> out;
    out.reserve(text.size() * 5 / 8);
    std::uint32_t buffer = 0;
    int bits = 0;
    std::size_t symbols = 0;
    std::size_t padding = 0;
    for (char c : text) {
        if (c == ' ') continue;
        if (c == '=') {
            ++padding;
            continue;
        }
        if (padding > 0) return std::nullopt;  // data after padding
        int v = decode_char(c);
        if (v < 0) return std::nullopt;
        ++symbols;
        buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>(buffer >> bits));
            buffer &= (1u << bits) - 1u;
        }
    }
    // A final quantum of 1, 3 or 6 symbols cannot come from whole bytes.
    std::size_t rem = symbols % 8;
    if (rem == 1 || rem == 3 || rem == 6) return std::nullopt;
    if (padding > 0 && padding != (8 - rem) % 8) return std::nullopt;
    return out;
}

}  // namespace portal
