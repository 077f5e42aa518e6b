// Standard base64 (RFC 4648, padded) for the sealed secrets and recovery-code hashes the
// store keeps. Decoding is strict: a stored value that is not exactly what encode() writes
// is refused rather than half-read.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portal::tfa {

std::string base64_encode(std::span<const std::uint8_t> in);

// nullopt unless `in` is whole padded groups of the 64 symbols, padding only at the end,
// and at most max_len characters.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view in, std::size_t max_len);

}  // namespace portal::tfa
