// Validation and fingerprinting of users' SSH public keys (the portal's "ssh keys").
// Parsing is libssh's; this file only decides which keys are acceptable and formats
// fingerprints the way ssh-keygen prints them.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace portal {

struct ParsedSshKey {
    std::string type;                // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", "sk-...@openssh.com"
    std::string base64;              // the key blob as given (validated: canonical, no trailing junk)
    std::string comment;             // trailing comment, surrounding whitespace trimmed (may be empty)
    int bits = 0;                    // as ssh-keygen -l reports it
    std::string fingerprint_md5;     // "aa:bb:..." lower-case colon hex, no "MD5:" prefix
    std::string fingerprint_sha256;  // "SHA256:..." unpadded base64, as ssh-keygen -l prints it

    std::string normalized() const;  // "<type> <base64>"
};

struct SshKeyError {
    std::string message;  // human text saying what was wrong; never echoes the input
};

// Limits enforced by parse_ssh_public_key.
inline constexpr std::size_t kSshKeyMaxBase64 = 16 * 1024;
inline constexpr std::size_t kSshKeyMaxComment = 256;
inline constexpr int kSshKeyMinRsaBits = 2048;
inline constexpr int kSshKeyMaxRsaBits = 16384;  // OpenSSH refuses larger moduli anyway

// Parses one authorized_keys-style public key line: "<type> <base64> [comment]".
// Fields are separated by runs of spaces or tabs; no leading whitespace, no options
// before the type, printable ASCII only (tab allowed as whitespace; a trailing newline
// is an error: callers strip it). Allowed types: ssh-ed25519, ecdsa-sha2-nistp256/384/521,
// ssh-rsa (2048..16384 bits), sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com.
// DSA and certificates are refused. The blob must be exactly what libssh re-encodes for
// the key it decodes (so nothing can hide after the key) and its inner type must equal
// the type word.
std::variant<ParsedSshKey, SshKeyError> parse_ssh_public_key(std::string_view line);

}  // namespace portal
