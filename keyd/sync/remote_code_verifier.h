// Agent mode: a member's TOTP code is checked by the portal (POST /v1/iam/tfa/verify, host
// token), which holds the secret, the replay mark and the failure limits. The login socket
// asks without waiting (verify_async): the checks run one at a time on a thread of their own,
// each bounded by `timeout`, and a check that waited in line longer than `timeout` is not
// sent at all. No answer in time is `unavailable` (refused; pam_portal.so says the code cannot
// be checked now). Keys, account checks and local users never wait for any of this.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "keyd/login/login_service.h"
#include "keyd/sync/portal_client.h"

namespace portal::sync {

class RemoteCodeVerifier final : public login::CodeVerifier {
public:
    RemoteCodeVerifier(PortalEndpoint endpoint, std::string hostname, std::chrono::milliseconds timeout);
    ~RemoteCodeVerifier() override;  // stop()
    // Ends the check in progress and drops the queued ones without calling their `done`: call
    // it before whoever those callbacks reach (the LoginService) goes. Idempotent.
    void stop();
    ipc::VerifyCodeReply verify(const ipc::LoginMember& member, const ipc::VerifyCodeRequest& r,
                                std::string& reason) override;
    void verify_async(const ipc::LoginMember& member, const ipc::VerifyCodeRequest& r, Done done) override;

private:
    struct Job {
        std::string user_id, unix_name, code, rhost;
        std::chrono::steady_clock::time_point queued;
        Done done;
    };
    ipc::VerifyCodeReply ask(const Job& job, std::string& reason);
    void run();

    PortalClient client_;  // the worker's (verify() from another thread takes mu_ for it too)
    std::string hostname_;
    std::chrono::milliseconds timeout_;
    std::mutex client_mu_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    std::thread worker_;
};

}  // namespace portal::sync
