// API tokens: the caller's own (PORTAL.md §5). A token acts as its user over HTTPS, capped by
// its access level; its secret is returned once, by create().
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "keyd/iam/caller.h"
#include "shared/model.h"

namespace portal::iam {

struct NewApiToken {
    std::string name;
    TokenAccess access = TokenAccess::read_only;
    std::optional<std::chrono::seconds> expires_in;  // none: until deleted
};

struct CreatedApiToken {
    ApiToken token;
    std::string secret;  // "pk_tok_...": shown once, never stored
};

class TokenService {
public:
    virtual ~TokenService() = default;

    virtual std::vector<ApiToken> list(const Principal& p) = 0;
    virtual CreatedApiToken create(const Principal& p, const NewApiToken& t) = 0;
    virtual void remove(const Principal& p, const std::string& token_id) = 0;  // 404 when not theirs
};

}  // namespace portal::iam
