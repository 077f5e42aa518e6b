// Portal sign-in passwords: Argon2id (libargon2) in its PHC string form
// ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"), which carries its own parameters so that
// stronger ones later still verify what is stored today.
#pragma once
#include <string>
#include <string_view>

namespace portal::iam::authority {

// OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane (tens of milliseconds here), with a
// random 16-byte salt and a 32-byte hash.
std::string hash_password(std::string_view password);
// Whether `password` matches `encoded` (constant-time comparison inside libargon2). A
// malformed `encoded` never matches.
bool verify_password(const std::string& encoded, std::string_view password);
// Costs what a real verification costs, and matches nothing: for unknown emails, so that a
// sign-in's duration does not tell which addresses have accounts.
void verify_nothing(std::string_view password);

}  // namespace portal::iam::authority
