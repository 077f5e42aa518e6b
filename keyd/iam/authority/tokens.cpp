#include "keyd/iam/authority/tokens.h"

#include <openssl/sha.h>

#include <array>
#include <cctype>
#include <ctime>

#include "keyd/iam/errors.h"
#include "keyd/store/timestamp.h"
#include "shared/random.h"

namespace portal::iam::authority {

std::string credential_hash(std::string_view token) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d.data());
    return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string new_credential(std::string_view prefix) { return std::string(prefix) + random_token(32); }

bool well_formed_credential(std::string_view t, std::string_view prefix) {
    if (!t.starts_with(prefix) || t.size() != prefix.size() + 43) return false;
    for (char c : t.substr(prefix.size()))
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    return true;
}

std::vector<ApiToken> Tokens::list(const Principal& p) {
    authorize({p}, Operation::list_api_tokens);
    return b_.store.api_tokens().of_user(p.user_id());
}

CreatedApiToken Tokens::create(const Principal& p, const NewApiToken& t) {
    authorize({p}, Operation::create_api_token);
    CreatedApiToken out;
    out.secret = new_credential(kApiTokenPrefix);
    ApiToken& tok = out.token;
    tok.id = random_id("tok_");
    tok.user_id = p.user_id();
    tok.name = t.name;
    tok.access = t.access;
    const std::time_t now = std::time(nullptr);
    tok.created_at = store::format_rfc3339(now);
    if (t.expires_in) tok.expires_at = store::format_rfc3339(now + static_cast<std::time_t>(t.expires_in->count()));
    b_.write_quietly([&] { b_.store.api_tokens().insert(tok, credential_hash(out.secret)); });
    return out;
}

void Tokens::remove(const Principal& p, const std::string& token_id) {
    authorize({p}, Operation::delete_api_token);
    bool removed = false;
    b_.write_quietly([&] { removed = b_.store.api_tokens().remove(p.user_id(), token_id); });
    if (!removed) throw ApiError::not_found("API token not found");
}

}  // namespace portal::iam::authority
