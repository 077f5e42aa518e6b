// SSH keys in the caller's account.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "keyd/iam/caller.h"
#include "keyd/iam/paging.h"
#include "shared/model.h"

namespace portal::iam {

struct KeyFilter {
    std::optional<std::string> user_id;
    std::optional<std::pair<std::string, std::string>> label;
};

struct NewKey {
    std::string name, public_key;
    std::map<std::string, std::string> labels;
    std::optional<std::string> user_id;
};

struct KeyUpdate {
    std::optional<std::string> name;
    std::optional<std::map<std::string, std::string>> labels;
};

class KeyService {
public:
    virtual ~KeyService() = default;

    virtual PageResult<SshKey> list(const Caller& c, const KeyFilter& f, const PageRequest& pg) = 0;
    virtual SshKey get(const Caller& c, const std::string& fingerprint) = 0;
    virtual SshKey add(const Caller& c, const NewKey& k) = 0;
    virtual SshKey update(const Caller& c, const std::string& fingerprint, const KeyUpdate& u) = 0;
    virtual void remove(const Caller& c, const std::string& fingerprint) = 0;
};

}  // namespace portal::iam
