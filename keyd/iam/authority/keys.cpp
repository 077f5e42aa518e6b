#include "keyd/iam/authority/keys.h"

#include <cstdint>

#include "keyd/iam/errors.h"
#include "shared/ssh_key.h"

namespace portal::iam::authority {

SshKey Keys::key_or_404(const Caller& c, const std::string& fingerprint) {
    auto k = b_.store.ssh_keys().get(c.account.id, fingerprint);
    if (!k) throw ApiError::not_found("SSH key not found");
    return *k;
}

Subject Keys::key_subject(const SshKey& k) {
    auto m = b_.store.memberships().get(k.account_id, k.user_id);
    return Subject{k.user_id, m ? std::optional<Role>(m->role) : std::nullopt, {}};
}

PageResult<SshKey> Keys::list(const Caller& c, const KeyFilter& f, const PageRequest& pg) {
    const Grant g = authorize({c.principal, &c}, Operation::list_keys);
    std::optional<std::string> user = f.user_id;
    if (g.only_user_id) {
        if (user && *user != *g.only_user_id) return {};
        user = g.only_user_id;
    }
    if (!f.label) {
        PageResult<SshKey> r;
        r.items = b_.store.ssh_keys().list(c.account.id, user, to_store_page(pg), r.total);
        return r;
    }
    std::int64_t total = 0;
    auto all = b_.store.ssh_keys().list(c.account.id, user, {0, INT64_MAX}, total);
    std::erase_if(all, [&](const SshKey& k) {
        auto it = k.labels.find(f.label->first);
        return it == k.labels.end() || it->second != f.label->second;
    });
    return slice(std::move(all), pg);
}

SshKey Keys::get(const Caller& c, const std::string& fingerprint) {
    SshKey k;
    authorize({c.principal, &c}, Operation::get_key, [&] {
        k = key_or_404(c, fingerprint);
        return Subject{k.user_id, std::nullopt, {}};
    });
    return k;
}

SshKey Keys::add(const Caller& c, const NewKey& nk) {
    std::string owner;
    if (c.is_system() && !nk.user_id) throw ApiError::unprocessable("user_id", "required when root adds a key");
    authorize({c.principal, &c}, Operation::add_key, [&] {
        owner = nk.user_id ? *nk.user_id : c.principal.user_id();
        auto au = b_.store.memberships().account_user(c.account.id, owner);
        if (!au) throw ApiError::unprocessable("user_id", "no such member in this account");
        return Subject{owner, au->membership.role, {}};
    });
    auto parsed = parse_ssh_public_key(nk.public_key);
    if (auto* err = std::get_if<SshKeyError>(&parsed)) throw ApiError::unprocessable("public_key", err->message);
    const auto& p = std::get<ParsedSshKey>(parsed);
    SshKey k;
    k.account_id = c.account.id;
    k.user_id = owner;
    k.name = nk.name;
    k.fingerprint = p.fingerprint_md5;
    k.fingerprint_sha256 = p.fingerprint_sha256;
    k.public_key = p.normalized();
    k.type = p.type;
    k.bits = p.bits;
    k.labels = nk.labels;
    b_.write([&] { b_.store.ssh_keys().insert(k); });
    return *b_.store.ssh_keys().get(c.account.id, k.fingerprint);
}

SshKey Keys::update(const Caller& c, const std::string& fingerprint, const KeyUpdate& u) {
    SshKey k;
    authorize({c.principal, &c}, Operation::update_key, [&] {
        k = key_or_404(c, fingerprint);
        return key_subject(k);
    });
    if (u.name) k.name = *u.name;
    if (u.labels) k.labels = *u.labels;
    b_.write([&] { b_.store.ssh_keys().update(k); });
    return *b_.store.ssh_keys().get(c.account.id, fingerprint);
}

void Keys::remove(const Caller& c, const std::string& fingerprint) {
    authorize({c.principal, &c}, Operation::delete_key, [&] { return key_subject(key_or_404(c, fingerprint)); });
    b_.write([&] { b_.store.ssh_keys().remove(c.account.id, fingerprint); });
}

}  // namespace portal::iam::authority
