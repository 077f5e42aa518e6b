// Cryptographically secure randomness (OpenSSL's CSPRNG) for ids, tokens and keys.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portal {

// n bytes from RAND_bytes; throws std::runtime_error if the generator fails.
std::vector<std::uint8_t> random_bytes(std::size_t n);

// prefix + 20 characters of [a-z2-7] (100 bits), e.g. random_id("usr_") -> "usr_k3j...".
std::string random_id(std::string_view prefix);

// URL-safe base64 without padding of `bytes` random bytes (a bearer secret: 32 bytes
// gives 256 bits in 43 characters).
std::string random_token(std::size_t bytes);

}  // namespace portal
