// What this server does with the account: the login state it serves, the fallback state
// file, and the members it could not publish (a local account holds their name or uid).
// The numbers come from the login path (keyd/login/refresher.h) through a callback, so the
// API does not depend on it; the guard decides who may read them.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "keyd/iam/caller.h"

namespace portal::iam {

struct ServerCollision {
    std::string user_id, unix_name, reason;
    std::uint32_t uid = 0;
};

struct ServerStatus {
    std::string account_id;       // the account whose members log in here
    std::uint64_t revision = 0;   // of the login state served
    bool state_file_current = false;
    std::string state_file_error;  // "" unless the last write failed
    std::vector<ServerCollision> collisions;
    // The HTTPS listener (empty when off): where it listens and its certificate's pin.
    std::vector<std::string> https_endpoints;
    std::string https_pin;
    std::string https_error;  // configured, but it could not start
};

class ServerStatusService {
public:
    using Source = std::function<ServerStatus()>;
    explicit ServerStatusService(Source source) : source_(std::move(source)) {}
    // 404 when the caller's account is not the one this server serves (its members are not
    // users here, and another account's details are not the caller's business).
    ServerStatus get(const Caller& c) const;

private:
    Source source_;
};

}  // namespace portal::iam
