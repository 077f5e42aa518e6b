#include "keyd/iam/authority/password_hash.h"

#include <argon2.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "shared/random.h"

namespace portal::iam::authority {
namespace {

constexpr std::uint32_t kPasses = 2;
constexpr std::uint32_t kMemoryKiB = 19 * 1024;
constexpr std::uint32_t kLanes = 1;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

}  // namespace

std::string hash_password(std::string_view password) {
    const std::vector<std::uint8_t> salt = random_bytes(kSaltBytes);
    std::vector<char> encoded(argon2_encodedlen(kPasses, kMemoryKiB, kLanes, kSaltBytes, kHashBytes, Argon2_id));
    const int rc = argon2id_hash_encoded(kPasses, kMemoryKiB, kLanes, password.data(), password.size(), salt.data(),
                                         salt.size(), kHashBytes, encoded.data(), encoded.size());
    if (rc != ARGON2_OK) throw std::runtime_error(std::string("argon2id: ") + argon2_error_message(rc));
    return std::string(encoded.data());
}

bool verify_password(const std::string& encoded, std::string_view password) {
    if (!encoded.starts_with("$argon2id$")) return false;
    return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

void verify_nothing(std::string_view password) {
    // A hash of a random password made once: verifying against it costs the same as a real one.
    static const std::string decoy = hash_password(random_token(24));
    (void)verify_password(decoy, password);
}

}  // namespace portal::iam::authority
