#include "keyd/login/userdb_publisher.h"

#include <exception>
#include <stdexcept>
#include <utility>

#include "keyd/log/log.h"

namespace portal::login {

namespace {
userdb::UserdbConfig with_bypass(userdb::UserdbConfig cfg) {
    userdb::ensure_userdb_bypass(cfg);  // before any NSS call of ours
    return cfg;
}
}  // namespace

UserdbPublisher::UserdbPublisher(boost::asio::io_context& io, userdb::UserdbConfig cfg)
    : cfg_(with_bypass(std::move(cfg))),
      writer_(cfg_),
      provider_(io, cfg_),
      name_taken_(userdb::local_name_check(cfg_)),
      id_taken_(userdb::local_id_check(cfg_)) {}

PublicationPlan UserdbPublisher::plan(ipc::LoginState& state) {
    auto p = userdb::plan_publication(std::move(state), cfg_, name_taken_, id_taken_);
    state = std::move(p.state);
    PublicationPlan out;
    out.warnings = std::move(p.warnings);
    out.collisions.reserve(p.refused.size());
    for (auto& r : p.refused)
        out.collisions.push_back(Collision{std::move(r.unix_name), r.uid, std::move(r.user_id), std::move(r.reason)});
    return out;
}

void UserdbPublisher::publish(const std::shared_ptr<const ipc::LoginState>& state,
                              const std::unordered_set<std::string>* changed) {
    std::string failed;
    try {
        writer_.publish(*state, changed);
    } catch (const std::exception& e) {
        failed = std::string("drop-ins: ") + e.what();
    }
    provider_.update(state, changed);
    if (!failed.empty()) throw std::runtime_error(failed);
}

}  // namespace portal::login
