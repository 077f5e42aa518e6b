// POSIX login names for portal users: validation, reserved names, and a stable
// derivation from an email address.
#pragma once
#include <functional>
#include <string>
#include <string_view>

namespace portal {

// ^[a-z_][a-z0-9_-]{0,31}$ and not all digits: the portable subset that useradd,
// systemd's userdb and sshd's Match all accept (max 32 characters).
bool is_valid_unix_name(std::string_view name);

// Names a portal identity must never take because the system, a package or
// portal-keyd itself owns or may later own them (root, daemon, sshd, sudo, systemd-*,
// _apt, portal-keyd, ...). Any name starting with "_", "systemd-" or "portal-" is reserved.
bool is_reserved_unix_name(std::string_view name);

// Derives a stable name from an email: the local part, lower-cased, "+tag" dropped,
// accented Latin letters folded to ASCII, '.' and other punctuation mapped to '_',
// other characters dropped, runs of '_'/'-' collapsed, leading/trailing '_'/'-'
// trimmed, a leading digit prefixed with 'u', cut to 32 characters; "user" when
// nothing is left. If that name is reserved or is_taken(name), appends 2, 3, ...
// (shortening the base so the whole stays <= 32). Never returns an invalid, reserved
// or taken name; throws std::runtime_error if no free name is found after many tries.
// is_taken is only called with valid, non-reserved names.
std::string derive_unix_name(std::string_view email,
                             const std::function<bool(std::string_view)>& is_taken);

}  // namespace portal
