// HostService on the embedded store.
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/host_service.h"

namespace portal::iam::authority {

class Hosts final : public HostService {
public:
    explicit Hosts(Backend& b) : b_(b) {}
    std::vector<Host> list(const Caller& c) override;
    Host get(const Caller& c, const std::string& id) override;
    CreatedEnrolment create_enrolment(const Caller& c, const NewEnrolment& e) override;
    void remove(const Caller& c, const std::string& id) override;
    RegisteredHost register_host(const Principal& p, const Registration& r) override;
    PageResult<LoginEvent> logins(const Caller& c, const PageRequest& pg) override;

private:
    Backend& b_;
};

}  // namespace portal::iam::authority
