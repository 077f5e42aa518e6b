// RFC 4648 base32 (upper-case alphabet), as used for TOTP secrets in otpauth:// URIs.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portal {

// Encodes without '=' padding (what authenticator apps expect in otpauth:// URIs).
std::string base32_encode(std::span<const std::uint8_t> data);

// Accepts upper or lower case, ignores spaces (users copy secrets in groups of four) and
// optional '=' padding; if padding is present it must be complete and only at the end.
// Returns nullopt on any other character or an impossible length.
std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text);

}  // namespace portal
