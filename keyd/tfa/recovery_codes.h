// Single-use 2FA recovery codes: generation, salted hashing, constant-time checking.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace portal {

// `count` distinct codes "xxxx-xxxx-xxxx" from an alphabet without look-alikes
// (no 0/o, 1/l/i): ~59 bits each. Throws std::invalid_argument if count < 0.
std::vector<std::string> generate_recovery_codes(int count = 10);

// "v1$<salt b64>$<PBKDF2-HMAC-SHA256 b64>" (16-byte random salt, 10000 iterations:
// enough for high-entropy codes). The code is normalized first: ASCII lower-cased,
// dashes and whitespace removed. Throws std::invalid_argument if nothing is left.
std::string hash_recovery_code(std::string_view code);

// Whether `code` (normalized the same way) matches `stored_hash`; the comparison is
// constant-time. False for malformed hashes, empty or oversized codes.
bool verify_recovery_code(std::string_view code, std::string_view stored_hash);

}  // namespace portal
