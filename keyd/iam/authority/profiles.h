// ProfileService on the embedded store.
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/profile_service.h"

namespace portal::iam::authority {

class Profiles final : public ProfileService {
public:
    explicit Profiles(Backend& b) : b_(b) {}
    Profile get(const Principal& p) override;
    Profile update(const Principal& p, const std::optional<std::string>& name) override;

private:
    Backend& b_;
};

}  // namespace portal::iam::authority
