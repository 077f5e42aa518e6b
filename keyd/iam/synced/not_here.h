// The services an agent never serves itself: the local API forwards their requests to the
// portal first (keyd/modes/agent_api.h). Reaching one of these is a wiring mistake: 500.
#pragma once
#include "keyd/iam/services.h"

namespace portal::iam::synced {

[[noreturn]] void not_here();

struct TwoFactorAtPortal final : TwoFactorService {
    TfaEnrolment enable(const Caller&) override { not_here(); }
    std::vector<std::string> confirm(const Caller&, const std::string&) override { not_here(); }
    void disable(const Caller&, const std::string&) override { not_here(); }
};
struct InvitationsAtPortal final : InvitationService {
    std::vector<Invitation> list(const Principal&) override { not_here(); }
    std::pair<Account, Role> accept(const Principal&, const std::string&) override { not_here(); }
    void decline(const Principal&, const std::string&) override { not_here(); }
};
struct TokensAtPortal final : TokenService {
    std::vector<ApiToken> list(const Principal&) override { not_here(); }
    CreatedApiToken create(const Principal&, const NewApiToken&) override { not_here(); }
    void remove(const Principal&, const std::string&) override { not_here(); }
};
struct SessionsAtPortal final : SessionService {
    CreatedSession sign_in(const Principal&, const SignIn&) override { not_here(); }
    void sign_out(const Principal&) override { not_here(); }
    void set_password(const Principal&, const PasswordChange&) override { not_here(); }
};
struct HostsAtPortal final : HostService {
    std::vector<Host> list(const Caller&) override { not_here(); }
    Host get(const Caller&, const std::string&) override { not_here(); }
    CreatedEnrolment create_enrolment(const Caller&, const NewEnrolment&) override { not_here(); }
    void remove(const Caller&, const std::string&) override { not_here(); }
    PageResult<LoginEvent> logins(const Caller&, const PageRequest&) override { not_here(); }
    RegisteredHost register_host(const Principal&, const Registration&) override { not_here(); }
};
struct AllowlistAtPortal final : AllowlistService {
    IpAllowlist get(const Caller&) override { not_here(); }
    IpAllowlist set_active(const Caller&, bool) override { not_here(); }
    IpAllowlistEntry add(const Caller&, const AllowlistEntryChange&) override { not_here(); }
    IpAllowlistEntry update(const Caller&, const std::string&, const AllowlistEntryChange&) override { not_here(); }
    void remove(const Caller&, const std::string&) override { not_here(); }
};
struct ContactsAtPortal final : ContactService {
    PageResult<Contact> list(const Caller&, const PageRequest&) override { not_here(); }
    Contact get(const Caller&, const std::string&) override { not_here(); }
    Contact create(const Caller&, const ContactChange&) override { not_here(); }
    Contact update(const Caller&, const std::string&, const ContactChange&) override { not_here(); }
    void remove(const Caller&, const std::string&) override { not_here(); }
};
struct TicketsAtPortal final : TicketService {
    PageResult<Ticket> list(const Caller&, const PageRequest&, const std::optional<std::string>&) override { not_here(); }
    Ticket get(const Caller&, const std::string&) override { not_here(); }
    Ticket open(const Caller&, const NewTicket&) override { not_here(); }
    TicketMessage add_message(const Caller&, const std::string&, const std::string&) override { not_here(); }
    Ticket close(const Caller&, const std::string&) override { not_here(); }
};
struct SupportAtPortal final : SupportService {
    SupportAccess access(const Caller&) override { not_here(); }
    SupportAccess set_access(const Caller&, const SupportAccessChange&) override { not_here(); }
    std::vector<SupportStaffMember> staff(const Principal&) override { not_here(); }
    SupportStaffMember mark_staff(const Principal&, const std::string&) override { not_here(); }
    void unmark_staff(const Principal&, const std::string&) override { not_here(); }
    std::optional<std::chrono::system_clock::time_point> expire_due(std::chrono::system_clock::time_point) override {
        not_here();
    }
};
struct NotificationsAtPortal final : NotificationService {
    PageResult<Notification> list(const Caller&, const PageRequest&) override { not_here(); }
};
struct FeedAtPortal final : FeedService {
    ipc::LoginState state(const Principal&, const std::optional<std::string>&, bool) override { not_here(); }
    std::uint64_t state_revision(const Principal&, const std::optional<std::string>&) override { not_here(); }
    std::optional<FeedChanges> changes(const Principal&, const std::optional<std::string>&, std::uint64_t,
                                       bool) override {
        not_here();
    }
    HostTfaResult verify_tfa(const Principal&, const HostTfaCheck&) override { not_here(); }
    std::size_t report_logins(const Principal&, std::vector<LoginEvent>) override { not_here(); }
    std::uint64_t revision() override { not_here(); }
};

}  // namespace portal::iam::synced
