// TOTP (RFC 6238) on top of HOTP (RFC 4226), with OpenSSL's HMAC and RNG.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portal {

enum class TotpAlgorithm { sha1, sha256, sha512 };

struct TotpParams {
    TotpAlgorithm algorithm = TotpAlgorithm::sha1;
    int digits = 6;
    int period = 30;
};

// digits 6..8, period 30 or 60; throws std::invalid_argument otherwise.
void validate(const TotpParams& params);

// "SHA1", "SHA256", "SHA512" (the otpauth:// spelling).
std::string_view to_string(TotpAlgorithm algorithm);

// Zero-padded to params.digits. Throws std::invalid_argument on bad params or a negative time.
std::string hotp_code(std::span<const std::uint8_t> secret, std::uint64_t counter, const TotpParams& params);
std::string totp_code(std::span<const std::uint8_t> secret, std::int64_t unix_time, const TotpParams& params);

struct TotpCheck {
    bool ok = false;
    std::int64_t step = -1;  // the time step that matched; store it as the new high-water mark
};

// Accepts the code of time step now-1, now or now+1 (now = unix_time / period) if that step is
// greater than last_accepted_step (-1 when none), so a code is never accepted twice, nor one
// older than the last accepted. Compares against every candidate in constant time. Anything but
// exactly params.digits ASCII digits is rejected. Throws std::invalid_argument on bad params.
TotpCheck totp_verify(std::span<const std::uint8_t> secret, std::string_view code, std::int64_t unix_time,
                      std::int64_t last_accepted_step, const TotpParams& params);

// Fresh secret from RAND_bytes; throws std::runtime_error if the RNG fails and
// std::invalid_argument for 0 bytes.
std::vector<std::uint8_t> totp_random_secret(std::size_t bytes = 20);

// otpauth://totp/<issuer>:<account>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
// Label and issuer are percent-encoded; the secret is unpadded base32. With an empty issuer
// the label is just the account and the issuer parameter is left out.
std::string otpauth_uri(std::string_view issuer, std::string_view account_name, std::span<const std::uint8_t> secret,
                        const TotpParams& params);

}  // namespace portal
