// Hosts: the servers that follow an account (agents). Owners make one-use enrolment tokens;
// a server registers with one and gets its host token (PORTAL.md §5). Secrets are returned
// once, by create_enrolment() and register_host(), and kept as hashes only.
#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "keyd/iam/caller.h"
#include "keyd/iam/paging.h"
#include "shared/model.h"

namespace portal::iam {

struct NewEnrolment {
    std::optional<std::string> name;
    std::map<std::string, std::string> labels;
    std::chrono::seconds expires_in{3600};
};

struct CreatedEnrolment {
    HostEnrolment enrolment;
    std::string secret;  // "pk_enrol_...": shown once
};

struct Registration {
    std::string enrolment_token;
    std::string hostname;
    std::string version;
};

struct RegisteredHost {
    Host host;
    std::string secret;  // "pk_host_...": shown once, the agent keeps it 0600
};

class HostService {
public:
    virtual ~HostService() = default;

    virtual std::vector<Host> list(const Caller& c) = 0;
    virtual Host get(const Caller& c, const std::string& id) = 0;
    virtual CreatedEnrolment create_enrolment(const Caller& c, const NewEnrolment& e) = 0;
    virtual void remove(const Caller& c, const std::string& id) = 0;  // its host token stops at once
    // The account's login history as its hosts reported it, newest first.
    virtual PageResult<LoginEvent> logins(const Caller& c, const PageRequest& pg) = 0;
    // 401 for an unknown, used or expired enrolment token (one message for all).
    virtual RegisteredHost register_host(const Principal& p, const Registration& r) = 0;
};

}  // namespace portal::iam
