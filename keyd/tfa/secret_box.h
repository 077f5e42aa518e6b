// Encryption at rest for TOTP secrets (AES-256-GCM with a key file on disk).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portal {

// Seals small secrets with AES-256-GCM under a 32-byte key kept in a 0600 file.
// Each seal uses a fresh random 12-byte nonce. The associated data binds a ciphertext
// to a context string (the user id), so a sealed secret copied onto another user's row
// does not open. Move-only; the key is wiped from memory on destruction.
class SecretBox {
public:
    static constexpr std::size_t kKeySize = 32;

    // Loads the key from key_file, creating it (0600, random, fsync'd, published
    // atomically) if it does not exist. Throws std::runtime_error naming the path and the
    // reason if the file is a symlink, not a regular file, group/world accessible, not
    // owned by the effective uid, or not exactly 32 bytes. Does not create directories.
    static SecretBox load_or_create(const std::filesystem::path& key_file);

    SecretBox(SecretBox&&) noexcept;
    SecretBox& operator=(SecretBox&&) noexcept;
    SecretBox(const SecretBox&) = delete;
    SecretBox& operator=(const SecretBox&) = delete;
    ~SecretBox();

    // "v1:" + base64(nonce | ciphertext | tag). Throws std::logic_error on a
    // moved-from box, std::runtime_error if OpenSSL fails.
    std::string seal(std::span<const std::uint8_t> plaintext, std::string_view context) const;

    // The plaintext, or nullopt if `sealed` is malformed, was tampered with, was sealed
    // under another key, or under another context.
    std::optional<std::vector<std::uint8_t>> open(std::string_view sealed, std::string_view context) const;

private:
    struct Key;
    explicit SecretBox(std::unique_ptr<Key> key);
    std::unique_ptr<Key> key_;
};

}  // namespace portal
