// CallerDirectory on the embedded store.
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/caller_directory.h"

namespace portal::iam::authority {

class Callers final : public CallerDirectory {
public:
    explicit Callers(Backend& b) : b_(b) {}
    Principal principal_for_uid(uid_t uid) override;
    Principal principal_for_token(const std::string& token, const std::string& remote_address) override;
    Caller caller_in(const Principal& p, const std::optional<std::string>& account_id) override;

private:
    Principal principal_for_host_token(const std::string& token);
    Principal principal_for_api_token(const std::string& token);
    Principal principal_for_session(const std::string& token);
    // Marks which of the session's active accounts list its address (the guard decides).
    void admit_session_address(Principal& p);
    // The user's record and memberships, for a credential that acts as them.
    Principal user_principal(User user);
    Backend& b_;
};

}  // namespace portal::iam::authority
