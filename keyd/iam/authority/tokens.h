// TokenService on the embedded store, and the one place a token's secret becomes its hash.
#pragma once
#include <string>
#include <string_view>

#include "keyd/iam/authority/backend.h"
#include "keyd/iam/token_service.h"

namespace portal::iam::authority {

inline constexpr std::string_view kApiTokenPrefix = "pk_tok_";
inline constexpr std::string_view kHostTokenPrefix = "pk_host_";
inline constexpr std::string_view kEnrolmentTokenPrefix = "pk_enrol_";
inline constexpr std::string_view kSessionTokenPrefix = "pk_ses_";

// A new bearer secret: the kind's prefix and 32 random bytes (43 characters, URL-safe base64).
std::string new_credential(std::string_view prefix);
// Whether `token` has that shape (checked before the store is asked).
bool well_formed_credential(std::string_view token, std::string_view prefix);

// SHA-256 of the whole secret (prefix included), 32 bytes: what the store keeps and looks up
// for every kind of credential (API tokens, host tokens, enrolment tokens).
// The secret has 256 bits of entropy, so a fast hash is enough: nobody can guess a preimage,
// and a lookup by hash gives a timing side channel nothing to work with.
std::string credential_hash(std::string_view token);

class Tokens final : public TokenService {
public:
    explicit Tokens(Backend& b) : b_(b) {}
    std::vector<ApiToken> list(const Principal& p) override;
    CreatedApiToken create(const Principal& p, const NewApiToken& t) override;
    void remove(const Principal& p, const std::string& token_id) override;

private:
    Backend& b_;
};

}  // namespace portal::iam::authority
