// FeedService on the embedded store: the login state of the host's account, and its changes
// from the change log (keyd/store/change_log.h), read member by member.
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/feed_service.h"

namespace portal::iam::authority {

class Feed final : public FeedService {
public:
    explicit Feed(Backend& b) : b_(b) {}
    ipc::LoginState state(const Principal& p, const std::optional<std::string>& account_id) override;
    std::optional<FeedChanges> changes(const Principal& p, const std::optional<std::string>& account_id,
                                       std::uint64_t since) override;
    HostTfaResult verify_tfa(const Principal& p, const HostTfaCheck& check) override;
    std::size_t report_logins(const Principal& p, std::vector<LoginEvent> events) override;
    std::uint64_t revision() override;

private:
    std::string account_of(const Principal& p, const std::optional<std::string>& account_id);
    Backend& b_;
};

}  // namespace portal::iam::authority
