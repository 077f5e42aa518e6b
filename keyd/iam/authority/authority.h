// The IAM services of this daemon as the portal: one implementation per resource on the
// embedded store, sharing one Backend. Hands out the Services the router and handlers use.
#pragma once
#include <functional>

#include "keyd/iam/authority/accounts.h"
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/authority/callers.h"
#include "keyd/iam/authority/contacts.h"
#include "keyd/iam/authority/feed.h"
#include "keyd/iam/authority/hosts.h"
#include "keyd/iam/authority/invitations.h"
#include "keyd/iam/authority/ip_allowlist.h"
#include "keyd/iam/authority/keys.h"
#include "keyd/iam/authority/members.h"
#include "keyd/iam/authority/notifications.h"
#include "keyd/iam/authority/profiles.h"
#include "keyd/iam/authority/sessions.h"
#include "keyd/iam/authority/support.h"
#include "keyd/iam/authority/tickets.h"
#include "keyd/iam/authority/tokens.h"
#include "keyd/iam/authority/two_factor.h"
#include "keyd/iam/services.h"

namespace portal::iam::authority {

class Authority {
public:
    // on_change runs after every committed write that changed IAM state (login view refresh).
    Authority(store::Store& store, tfa::TfaService& tfa, std::function<void()> on_change = {});
    Authority(const Authority&) = delete;
    Authority& operator=(const Authority&) = delete;

    // References into this object: valid as long as it lives.
    Services services();
    void set_session_settings(const SessionSettings& s) { sessions_.set_settings(s); }

private:
    Backend backend_;
    Callers callers_{backend_};
    Accounts accounts_{backend_};
    Members members_{backend_};
    Keys keys_{backend_};
    Profiles profiles_{backend_};
    TwoFactor two_factor_{backend_};
    Invitations invitations_{backend_};
    Tokens tokens_{backend_};
    Sessions sessions_{backend_};
    Hosts hosts_{backend_};
    IpAllowlists allowlist_{backend_};
    Feed feed_{backend_};
    Contacts contacts_{backend_};
    Tickets tickets_{backend_};
    Support support_{backend_};
    Notifications notifications_{backend_};
};

}  // namespace portal::iam::authority
