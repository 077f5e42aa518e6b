// FeedService on the embedded store: the login state of the host's account, and its changes
// from the change log (keyd/store/change_log.h), read member by member.
#pragma once
#include <deque>
#include <mutex>

#include "keyd/iam/authority/backend.h"
#include "keyd/iam/feed_service.h"

namespace portal::iam::authority {

class Feed final : public FeedService {
public:
    explicit Feed(Backend& b) : b_(b) {}
    ipc::LoginState state(const Principal& p, const std::optional<std::string>& account_id,
                          bool profiles = false) override;
    std::uint64_t state_revision(const Principal& p, const std::optional<std::string>& account_id) override;
    std::optional<FeedChanges> changes(const Principal& p, const std::optional<std::string>& account_id,
                                       std::uint64_t since, bool profiles = false) override;
    HostTfaResult verify_tfa(const Principal& p, const HostTfaCheck& check) override;
    std::size_t report_logins(const Principal& p, std::vector<LoginEvent> events) override;
    std::uint64_t revision() override;

private:
    std::string account_of(const Principal& p, const std::optional<std::string>& account_id);
    std::optional<FeedChanges> compute_changes(const std::string& account, std::uint64_t since, std::uint64_t now,
                                               bool profiles);
    Backend& b_;

    // A change wakes every waiting long-poll of the account, and they were all at the same
    // revision: the answer for (account, since, revision) is computed once and shared. A few
    // recent answers are kept (hosts a revision or two behind).
    struct Answer {
        std::string account;
        std::uint64_t since = 0, revision = 0;
        bool profiles = false;
        std::optional<FeedChanges> changes;
    };
    std::mutex answers_mu_;
    std::deque<Answer> answers_;  // newest first
    static constexpr std::size_t kAnswersKept = 8;
};

}  // namespace portal::iam::authority
