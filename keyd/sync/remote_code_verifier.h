// Agent mode: a member's TOTP code is checked by the portal (POST /v1/iam/tfa/verify, host
// token), which holds the secret, the replay mark and the failure limits. Bounded by
// `timeout`; no answer in time is `unavailable` (refused, with a message saying the code
// cannot be checked now). Runs on the login thread: one check at a time, so a portal that
// hangs delays other members' code checks by at most the timeout; keys and account checks
// never wait for it.
#pragma once
#include <chrono>
#include <mutex>
#include <string>

#include "keyd/login/login_service.h"
#include "keyd/sync/portal_client.h"

namespace portal::sync {

class RemoteCodeVerifier final : public login::CodeVerifier {
public:
    RemoteCodeVerifier(PortalEndpoint endpoint, std::string hostname, std::chrono::milliseconds timeout);
    ipc::VerifyCodeReply verify(const ipc::LoginMember& member, const ipc::VerifyCodeRequest& r,
                                std::string& reason) override;

private:
    std::mutex mu_;
    PortalClient client_;
    std::string hostname_;
    std::chrono::milliseconds timeout_;
};

}  // namespace portal::sync
