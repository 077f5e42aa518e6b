// The IAM operations the API offers, one interface per resource, independent of where the
// state lives. The authority (keyd/iam/authority/: this daemon is the portal, on its
// embedded store) supplies one set; agent mode will supply another that forwards to a remote
// portal. Handlers only parse, call these, and serialise; every operation starts with its
// one authorize() call (keyd/iam/guard.h).
#pragma once
#include "keyd/iam/account_service.h"
#include "keyd/iam/allowlist_service.h"
#include "keyd/iam/caller_directory.h"
#include "keyd/iam/contact_service.h"
#include "keyd/iam/feed_service.h"
#include "keyd/iam/host_service.h"
#include "keyd/iam/invitation_service.h"
#include "keyd/iam/key_service.h"
#include "keyd/iam/member_service.h"
#include "keyd/iam/notification_service.h"
#include "keyd/iam/profile_service.h"
#include "keyd/iam/session_service.h"
#include "keyd/iam/support_service.h"
#include "keyd/iam/ticket_service.h"
#include "keyd/iam/token_service.h"
#include "keyd/iam/two_factor_service.h"

namespace portal::iam {

struct Services {
    CallerDirectory& callers;
    AccountService& accounts;
    MemberService& members;
    KeyService& keys;
    ProfileService& profile;
    TwoFactorService& tfa;
    InvitationService& invitations;
    TokenService& tokens;
    SessionService& sessions;
    HostService& hosts;
    AllowlistService& allowlist;
    FeedService& feed;
    ContactService& contacts;
    TicketService& tickets;
    SupportService& support;
    NotificationService& notifications;
};

}  // namespace portal::iam
