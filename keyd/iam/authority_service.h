// IamService backed by the embedded store: this daemon is the portal.
#pragma once
#include <functional>

#include "keyd/iam/guard.h"
#include "keyd/iam/service.h"
#include "keyd/store/store.h"
#include "keyd/tfa/tfa_service.h"

namespace portal::iam {

class AuthorityService final : public IamService {
public:
    // on_change runs after every committed write that changed IAM state (login view refresh).
    AuthorityService(store::Store& store, tfa::TfaService& tfa, std::function<void()> on_change = {});

    Principal principal_for_uid(uid_t uid) override;
    Caller caller_in(const Principal& p, const std::optional<std::string>& account_id) override;

    Account get_account(const Caller& c) override;
    Account update_account(const Caller& c, const AccountUpdate& u) override;
    std::vector<std::pair<Account, Role>> list_accounts(const Principal& p) override;
    std::pair<Account, Role> create_account(const Principal& p, const std::string& name,
                                            const std::optional<std::string>& owner_user_id) override;

    PageResult<AccountUser> list_users(const Caller& c, const UserFilter& f, const PageRequest& pg) override;
    AccountUser get_user(const Caller& c, const std::string& id) override;
    AccountUser create_user(const Caller& c, const NewUser& u) override;
    AccountUser update_user(const Caller& c, const std::string& id, const UserUpdate& u) override;
    void remove_user(const Caller& c, const std::string& id) override;
    void reset_user_tfa(const Caller& c, const std::string& id) override;

    Profile get_profile(const Principal& p) override;
    Profile update_profile(const Principal& p, const std::optional<std::string>& name) override;
    TfaEnrolment tfa_enable(const Caller& c) override;
    std::vector<std::string> tfa_confirm(const Caller& c, const std::string& code) override;
    void tfa_disable(const Caller& c, const std::string& code) override;

    std::vector<Invitation> list_invitations(const Principal& p) override;
    std::pair<Account, Role> accept_invitation(const Principal& p, const std::string& account_id) override;
    void decline_invitation(const Principal& p, const std::string& account_id) override;

    PageResult<SshKey> list_keys(const Caller& c, const KeyFilter& f, const PageRequest& pg) override;
    SshKey get_key(const Caller& c, const std::string& fingerprint) override;
    SshKey add_key(const Caller& c, const NewKey& k) override;
    SshKey update_key(const Caller& c, const std::string& fingerprint, const KeyUpdate& u) override;
    void delete_key(const Caller& c, const std::string& fingerprint) override;

private:
    store::Store& store_;
    tfa::TfaService& tfa_;
    std::function<void()> on_change_;

    // Runs a write in one transaction, mapping store conflicts to 409, then notifies.
    void write(const std::function<void()>& f);
    AccountUser member_or_404(const Caller& c, const std::string& user_id);
    SshKey key_or_404(const Caller& c, const std::string& fingerprint);
    // The guard's view of a user: their role here and every membership they hold.
    Subject subject_of(const std::string& user_id, std::optional<Role> role_here);
    Membership invitation_or_404(const Principal& p, const std::string& account_id);
};

}  // namespace portal::iam
