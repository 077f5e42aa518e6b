// The refresher's Publisher backed by keyd/userdb/: collision planning, drop-in files and
// the Varlink provider (roles -> groups, the 2FA group).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "keyd/login/refresher.h"
#include "keyd/userdb/resident_members.h"
#include "keyd/userdb/userdb.h"

namespace boost::asio {
class io_context;
}

namespace portal::login {

class UserdbPublisher final : public Publisher {
public:
    // Sets SYSTEMD_BYPASS_USERDB, binds the provider socket (throws when that fails). The
    // provider is served on `serve_io` (the daemon's login thread); plan() and publish() run
    // on the caller's thread.
    UserdbPublisher(boost::asio::io_context& serve_io, userdb::UserdbConfig cfg);
    PublicationPlan plan(ipc::LoginState& state) override;
    // Drop-ins, then the provider: a failure of one does not keep the other from updating.
    void publish(const std::shared_ptr<const ipc::LoginState>& state,
                 const std::unordered_set<std::string>* changed) override;
    // Members who opened a session here get drop-ins (written now, in proportion to them).
    void logged_in(const std::vector<std::string>& unix_names) override;
    std::size_t resident_count() const { return residents_.size(); }

private:
    void write_dropins(const std::unordered_set<std::string>* changed);

    userdb::UserdbConfig cfg_;
    userdb::DropinWriter writer_;
    userdb::ResidentMembers residents_;
    bool residents_seeded_ = false;
    bool provider_current_ = true;  // its database was built from the last state published
    std::shared_ptr<const ipc::LoginState> last_;  // the last state published
    // The refusals of the last plan and of the plan last_ came from, and the local-account
    // answers (userdb::local_accounts_generation) each was made with.
    std::vector<userdb::Refusal> planned_refused_, published_refused_;
    std::uint64_t planned_generation_ = 0, published_generation_ = 0;
    bool planned_shared_ = false, published_shared_ = false;
    userdb::Provider provider_;
    std::function<bool(std::string_view)> name_taken_;
    std::function<bool(std::uint32_t)> id_taken_;
};

}  // namespace portal::login
