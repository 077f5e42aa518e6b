#include "keyd/login/userdb_publisher.h"

#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

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
      residents_(cfg_.dropin_members, cfg_.dropin_max_age),
      provider_(io, cfg_),
      name_taken_(userdb::local_name_check(cfg_)),
      id_taken_(userdb::local_id_check(cfg_)) {}

PublicationPlan UserdbPublisher::plan(ipc::LoginState& state) {
    // Each check re-reads what changed when asked: asked once here, the generation read after
    // says whether the last plan's verdicts still hold for the members that did not change.
    (void)name_taken_(cfg_.tfa_group);
    (void)id_taken_(cfg_.tfa_group_gid);
    planned_generation_ = userdb::local_accounts_generation();
    const bool carry = last_ && published_generation_ == planned_generation_;
    const userdb::PlanBasis basis{carry ? *last_ : state, published_refused_, published_shared_};
    auto p = userdb::plan_publication(std::move(state), cfg_, name_taken_, id_taken_, carry ? &basis : nullptr);
    planned_refused_ = p.refused;
    planned_shared_ = p.shared;
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
    last_ = state;
    // What the next plan may carry over: this state's verdicts, made with these answers.
    published_refused_ = std::move(planned_refused_);
    published_generation_ = planned_generation_;
    published_shared_ = planned_shared_;
    std::string failed;
    try {
        write_dropins(changed);
    } catch (const std::exception& e) {
        failed = std::string("drop-ins: ") + e.what();
    }
    try {
        // After a failed update the provider's database is older than the last state: it
        // must not keep records by a change set relative to that state.
        provider_.update(state, provider_current_ ? changed : nullptr);
        provider_current_ = true;
    } catch (const std::exception& e) {
        provider_current_ = false;
        failed += (failed.empty() ? "" : "; ") + std::string("provider: ") + e.what();
    }
    if (!failed.empty()) throw std::runtime_error(failed);
}

void UserdbPublisher::logged_in(const std::vector<std::string>& unix_names) {
    const auto now = userdb::ResidentMembers::Clock::now();
    bool added = false;
    for (const auto& name : unix_names) {
        if (residents_.note(name, now)) added = true;
        else if (residents_.contains(name)) writer_.mark_used(name);  // for a restart to know
    }
    if (!added || !last_) return;
    // Nobody's record changed: the new residents' files are written, the others' kept.
    const std::unordered_set<std::string> none;
    try {
        write_dropins(&none);
    } catch (const std::exception& e) {
        log::warning("userdb: cannot write the drop-ins of members who logged in", {{"error", e.what()}});
    }
}

void UserdbPublisher::write_dropins(const std::unordered_set<std::string>* changed) {
    if (!residents_seeded_) {
        // Restarted without a reboot: who had drop-ins keeps them (aged from their files).
        residents_seeded_ = true;
        for (const auto& [name, at] : writer_.our_members()) residents_.note(name, at);
    }
    residents_.expire(userdb::ResidentMembers::Clock::now());
    writer_.publish(*last_, changed, &residents_.names());
}

}  // namespace portal::login
