// KeyService on the embedded store.
#pragma once
#include "keyd/iam/authority/backend.h"
#include "keyd/iam/key_service.h"

namespace portal::iam::authority {

class Keys final : public KeyService {
public:
    explicit Keys(Backend& b) : b_(b) {}
    PageResult<SshKey> list(const Caller& c, const KeyFilter& f, const PageRequest& pg) override;
    SshKey get(const Caller& c, const std::string& fingerprint) override;
    SshKey add(const Caller& c, const NewKey& k) override;
    SshKey update(const Caller& c, const std::string& fingerprint, const KeyUpdate& u) override;
    void remove(const Caller& c, const std::string& fingerprint) override;

private:
    SshKey key_or_404(const Caller& c, const std::string& fingerprint);
    // The guard's subject for a key: its owner and their role in this account.
    Subject key_subject(const SshKey& k);

    Backend& b_;
};

}  // namespace portal::iam::authority
