// IamService: the account operations the API offers, independent of where the state
// lives. AuthorityService (the embedded store) implements it today; an agent that
// forwards to a remote portal implements the same interface. Handlers only parse,
// call this, and serialise.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "keyd/iam/caller.h"
#include "shared/model.h"

namespace portal::iam {

struct PageRequest {
    std::int64_t page = 1;
    std::int64_t per_page = 20;
};

template <class T>
struct PageResult {
    std::vector<T> items;
    std::int64_t total = 0;
};

struct UserFilter {
    std::optional<std::string> search_pattern;
    std::optional<Role> role;
    std::optional<MemberStatus> status;
};

struct NewUser {
    std::string email, name;
    Role role = Role::manager;
    MemberStatus status = MemberStatus::active;
};

struct UserUpdate {
    std::optional<std::string> name;
    std::optional<Role> role;
    std::optional<MemberStatus> status;
};

struct AccountUpdate {
    std::optional<std::string> name;
    std::optional<bool> enforce_2fa;
    std::optional<std::string> confirm;
};

struct KeyFilter {
    std::optional<std::string> user_id;
    std::optional<std::pair<std::string, std::string>> label;
};

struct NewKey {
    std::string name, public_key;
    std::map<std::string, std::string> labels;
    std::optional<std::string> user_id;
};

struct KeyUpdate {
    std::optional<std::string> name;
    std::optional<std::map<std::string, std::string>> labels;
};

struct TfaEnrolment {
    std::string secret_base32;  // shown once, here
    std::string otpauth_uri;
    std::string expires_at;
};

// An account the user was invited to and has not answered yet.
struct Invitation {
    Account account;
    Role role = Role::manager;
    std::string invited_at;
};

struct Profile {
    User user;
    std::vector<std::pair<Account, Role>> accounts;
};

class IamService {
public:
    virtual ~IamService() = default;

    // Resolves the socket peer (and the X-Account-ID header, if any) to a caller.
    virtual Principal principal_for_uid(uid_t uid) = 0;
    virtual Caller caller_in(const Principal& p, const std::optional<std::string>& account_id) = 0;

    virtual Account get_account(const Caller& c) = 0;
    virtual Account update_account(const Caller& c, const AccountUpdate& u) = 0;
    virtual std::vector<std::pair<Account, Role>> list_accounts(const Principal& p) = 0;
    virtual std::pair<Account, Role> create_account(const Principal& p, const std::string& name,
                                                    const std::optional<std::string>& owner_user_id) = 0;

    virtual PageResult<AccountUser> list_users(const Caller& c, const UserFilter& f, const PageRequest& pg) = 0;
    virtual AccountUser get_user(const Caller& c, const std::string& id) = 0;
    virtual AccountUser create_user(const Caller& c, const NewUser& u) = 0;
    virtual AccountUser update_user(const Caller& c, const std::string& id, const UserUpdate& u) = 0;
    virtual void remove_user(const Caller& c, const std::string& id) = 0;
    virtual void reset_user_tfa(const Caller& c, const std::string& id) = 0;

    virtual Profile get_profile(const Principal& p) = 0;
    virtual Profile update_profile(const Principal& p, const std::optional<std::string>& name) = 0;
    virtual TfaEnrolment tfa_enable(const Caller& c) = 0;
    virtual std::vector<std::string> tfa_confirm(const Caller& c, const std::string& code) = 0;
    virtual void tfa_disable(const Caller& c, const std::string& code) = 0;

    virtual std::vector<Invitation> list_invitations(const Principal& p) = 0;
    // Accept: the membership becomes active; decline: it is removed.
    virtual std::pair<Account, Role> accept_invitation(const Principal& p, const std::string& account_id) = 0;
    virtual void decline_invitation(const Principal& p, const std::string& account_id) = 0;

    virtual PageResult<SshKey> list_keys(const Caller& c, const KeyFilter& f, const PageRequest& pg) = 0;
    virtual SshKey get_key(const Caller& c, const std::string& fingerprint) = 0;
    virtual SshKey add_key(const Caller& c, const NewKey& k) = 0;
    virtual SshKey update_key(const Caller& c, const std::string& fingerprint, const KeyUpdate& u) = 0;
    virtual void delete_key(const Caller& c, const std::string& fingerprint) = 0;
};

}  // namespace portal::iam
