#include "keyd/iam/synced/synced_iam.h"

#include <algorithm>
#include <cctype>
#include <variant>

#include "keyd/iam/errors.h"
#include "keyd/iam/guard.h"
#include "keyd/iam/synced/not_here.h"
#include "shared/ipc/login_member_json.h"
#include "shared/ssh_key.h"

namespace portal::iam::synced {

void not_here() { throw ApiError{500, "INTERNAL_ERROR", "this request is the portal's to answer"}; }

namespace {

Account account_of(const ipc::LoginState& s) {
    if (s.account_id.empty())
        throw ApiError{503, "NOT_SYNCED", "this server has not received its portal's state yet: portalctl status shows why"};
    Account a;
    a.id = s.account_id;
    a.name = s.account_name.value_or("");
    a.enforce_2fa = s.enforce_2fa;
    return a;
}

const ipc::LoginMember* by_user_id(const ipc::LoginState& s, const std::string& id) {
    for (const auto& m : s.members)
        if (m.user_id == id) return &m;
    return nullptr;
}

AccountUser account_user(const ipc::LoginState& s, const ipc::LoginMember& m) {
    const std::optional<ipc::MemberProfile> profile = ipc::read_profile(m);
    AccountUser au;
    au.user.id = m.user_id;
    au.user.unix_name = m.unix_name;
    au.user.uid = m.uid;
    au.user.tfa_enabled = m.tfa_enabled;
    au.membership.account_id = s.account_id;
    au.membership.user_id = m.user_id;
    au.membership.role = m.role;
    au.membership.status = m.status;
    if (profile) {
        au.user.email = profile->email;
        au.user.name = profile->name;
        au.user.created_at = profile->created_at;
        au.user.updated_at = profile->updated_at;
        au.membership.created_at = profile->joined_at;
        au.membership.updated_at = profile->updated_at;
    }
    return au;
}

// The store's search: `text` anywhere in the email, name or unix name, ASCII case ignored.
bool contains(const std::string& hay, const std::string& needle) {
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
           }) != hay.end();
}

template <class T>
PageResult<T> page_of(std::vector<T> all, const PageRequest& pg) {
    PageResult<T> r;
    r.total = static_cast<std::int64_t>(all.size());
    const auto per = std::max<std::int64_t>(pg.per_page, 1);
    const auto first = std::max<std::int64_t>(pg.page - 1, 0) * per;
    for (std::int64_t i = first; i < r.total && i < first + per; ++i) r.items.push_back(std::move(all[static_cast<std::size_t>(i)]));
    return r;
}

// A key as the API shows it: the login line holds the key; its profile the rest.
SshKey ssh_key(const ipc::LoginState& s, const ipc::LoginMember& m, const ipc::LoginKey& k,
               const ipc::KeyProfile* profile) {
    SshKey out;
    out.account_id = s.account_id;
    out.user_id = m.user_id;
    out.fingerprint_sha256 = k.fingerprint_sha256;
    if (profile) {
        out.name = profile->name;
        out.fingerprint = profile->fingerprint;
        out.labels = profile->labels;
        out.created_at = profile->created_at;
        out.updated_at = profile->updated_at;
    }
    const auto parsed = parse_ssh_public_key(k.line);
    if (const auto* p = std::get_if<ParsedSshKey>(&parsed)) {
        out.public_key = p->normalized();
        out.type = p->type;
        out.bits = p->bits;
        if (out.fingerprint.empty()) out.fingerprint = p->fingerprint_md5;
        if (out.name.empty()) out.name = p->comment;
    }
    return out;
}

const ipc::KeyProfile* key_profile(const std::optional<ipc::MemberProfile>& profile, const ipc::LoginKey& k) {
    if (!profile) return nullptr;
    for (const auto& p : profile->keys)
        if (p.fingerprint_sha256 == k.fingerprint_sha256) return &p;
    return nullptr;
}

class Callers final : public CallerDirectory {
public:
    Callers(SyncedStateView s, PublishedHere published) : s_(std::move(s)), published_(std::move(published)) {}
    Principal principal_for_uid(uid_t uid) override {
        Principal p;
        p.uid = uid;
        if (uid == 0) {
            p.kind = Principal::Kind::system;
            return p;
        }
        const ipc::LoginState& s = s_();
        for (const auto& m : s.members) {
            if (m.uid != uid || !published_(m.user_id)) continue;
            p.user = account_user(s, m).user;
            p.memberships.push_back(AccountMembership{account_of(s), m.role, m.status, true});
            return p;
        }
        throw ApiError::forbidden("uid " + std::to_string(uid) + " is not a member of the account this server follows");
    }
    Principal principal_for_token(const std::string&, const std::string&) override {
        throw ApiError::unauthorized("this server's socket goes by your uid; credentials go on to the portal");
    }
    Caller caller_in(const Principal& p, const std::optional<std::string>& account_id) override {
        const ipc::LoginState& s = s_();
        if (account_id && *account_id != s.account_id)
            throw ApiError::not_found("account not found (this server follows " + s.account_id + ")");
        Caller c;
        c.principal = p;
        c.account = account_of(s);
        c.role = Role::owner;
        if (!p.is_system()) {
            const auto& m = p.memberships.at(0);
            c.role = m.role;
            c.membership = Membership{s.account_id, p.user_id(), m.role, m.status, "", ""};
        }
        return c;
    }

private:
    SyncedStateView s_;
    PublishedHere published_;
};

class Accounts final : public AccountService {
public:
    explicit Accounts(SyncedStateView s) : s_(std::move(s)) {}
    Account get(const Caller& c) override {
        authorize({c.principal, &c}, Operation::get_account);
        return c.account;
    }
    std::vector<std::pair<Account, Role>> list(const Principal& p) override {
        authorize({p}, Operation::list_accounts);
        if (p.is_system()) return {{account_of(s_()), Role::owner}};
        return active_accounts(p);
    }
    Account update(const Caller&, const AccountUpdate&) override { not_here(); }
    std::pair<Account, Role> create(const Principal&, const std::string&, const std::optional<std::string>&) override {
        not_here();
    }

private:
    SyncedStateView s_;
};

class Members final : public MemberService {
public:
    explicit Members(SyncedStateView s) : s_(std::move(s)) {}
    PageResult<AccountUser> list(const Caller& c, const UserFilter& f, const PageRequest& pg) override {
        authorize({c.principal, &c}, Operation::list_members);
        const ipc::LoginState& s = s_();
        std::vector<AccountUser> all;
        for (const auto& m : s.members) {
            if (f.role && m.role != *f.role) continue;
            if (f.status && m.status != *f.status) continue;
            AccountUser au = account_user(s, m);
            if (f.search_pattern && !contains(au.user.email, *f.search_pattern) &&
                !contains(au.user.name, *f.search_pattern) && !contains(au.user.unix_name, *f.search_pattern))
                continue;
            all.push_back(std::move(au));
        }
        // The portal's order: by when they joined the account.
        std::sort(all.begin(), all.end(), [](const AccountUser& a, const AccountUser& b) {
            return std::tie(a.membership.created_at, a.user.id) < std::tie(b.membership.created_at, b.user.id);
        });
        auto page = page_of(std::move(all), pg);
        for (auto& au : page.items) au = shown_to(c, std::move(au));
        return page;
    }
    AccountUser get(const Caller& c, const std::string& id) override {
        authorize({c.principal, &c}, Operation::get_member);
        const ipc::LoginState& s = s_();
        const ipc::LoginMember* m = by_user_id(s, id);
        if (!m) throw ApiError::not_found("user not found in this account");
        return shown_to(c, account_user(s, *m));
    }
    AccountUser create(const Caller&, const NewUser&) override { not_here(); }
    AccountUser update(const Caller&, const std::string&, const UserUpdate&) override { not_here(); }
    void remove(const Caller&, const std::string&) override { not_here(); }
    void reset_tfa(const Caller&, const std::string&) override { not_here(); }

private:
    SyncedStateView s_;
};

class Keys final : public KeyService {
public:
    explicit Keys(SyncedStateView s) : s_(std::move(s)) {}
    PageResult<SshKey> list(const Caller& c, const KeyFilter& f, const PageRequest& pg) override {
        const Grant g = authorize({c.principal, &c}, Operation::list_keys);
        std::optional<std::string> user = f.user_id;
        if (g.only_user_id) {
            if (user && *user != *g.only_user_id) return {};
            user = g.only_user_id;
        }
        const ipc::LoginState& s = s_();
        struct Found {
            const ipc::LoginMember* member;
            const ipc::LoginKey* key;
            std::optional<ipc::KeyProfile> profile;
        };
        std::vector<Found> found;
        for (const auto& m : s.members) {
            if ((user && m.user_id != *user) || m.keys.empty()) continue;
            const std::optional<ipc::MemberProfile> profile = ipc::read_profile(m);
            for (const auto& k : m.keys) {
                const ipc::KeyProfile* p = key_profile(profile, k);
                if (f.label) {
                    if (!p) continue;
                    const auto it = p->labels.find(f.label->first);
                    if (it == p->labels.end() || it->second != f.label->second) continue;
                }
                found.push_back({&m, &k, p ? std::optional<ipc::KeyProfile>(*p) : std::nullopt});
            }
        }
        // The portal's order: oldest first. Only the page's keys are parsed.
        auto created = [](const Found& x) {
            return x.profile ? std::tie(x.profile->created_at, x.profile->fingerprint) : std::tie(x.key->line, x.key->line);
        };
        std::sort(found.begin(), found.end(), [&](const Found& a, const Found& b) { return created(a) < created(b); });
        auto page = page_of(std::move(found), pg);
        PageResult<SshKey> out;
        out.total = page.total;
        for (const auto& x : page.items)
            out.items.push_back(ssh_key(s, *x.member, *x.key, x.profile ? &*x.profile : nullptr));
        return out;
    }
    SshKey get(const Caller& c, const std::string& fingerprint) override {
        SshKey k;
        authorize({c.principal, &c}, Operation::get_key, [&] {
            k = find(fingerprint);
            return Subject{k.user_id, std::nullopt, {}};
        });
        return k;
    }
    SshKey add(const Caller&, const NewKey&) override { not_here(); }
    SshKey update(const Caller&, const std::string&, const KeyUpdate&) override { not_here(); }
    void remove(const Caller&, const std::string&) override { not_here(); }

private:
    SshKey find(const std::string& fingerprint) {
        const ipc::LoginState& s = s_();
        for (const auto& m : s.members) {
            if (m.keys.empty()) continue;
            const std::optional<ipc::MemberProfile> profile = ipc::read_profile(m);
            for (const auto& k : m.keys) {
                const ipc::KeyProfile* p = key_profile(profile, k);
                if (p && p->fingerprint == fingerprint) return ssh_key(s, m, k, p);
            }
        }
        throw ApiError::not_found("SSH key not found");
    }
    SyncedStateView s_;
};

class Profiles final : public ProfileService {
public:
    Profile get(const Principal& p) override {
        authorize({p}, Operation::get_profile);
        return Profile{*p.user, active_accounts(p)};
    }
    Profile update(const Principal&, const std::optional<std::string>&) override { not_here(); }
};

}  // namespace

struct SyncedIam::Impl {
    Impl(const SyncedStateView& s, PublishedHere published)
        : callers(s, std::move(published)), accounts(s), members(s), keys(s) {}
    Callers callers;
    Accounts accounts;
    Members members;
    Keys keys;
    Profiles profiles;
    TwoFactorAtPortal tfa;
    InvitationsAtPortal invitations;
    TokensAtPortal tokens;
    SessionsAtPortal sessions;
    HostsAtPortal hosts;
    AllowlistAtPortal allowlist;
    FeedAtPortal feed;
    ContactsAtPortal contacts;
    TicketsAtPortal tickets;
    SupportAtPortal support;
    NotificationsAtPortal notifications;
};

SyncedIam::SyncedIam(SyncedStateView state, PublishedHere published)
    : impl_(std::make_unique<Impl>(state, std::move(published))) {
    Impl& i = *impl_;
    services_ = std::make_unique<Services>(Services{i.callers, i.accounts, i.members, i.keys, i.profiles, i.tfa,
                                                    i.invitations, i.tokens, i.sessions, i.hosts, i.allowlist, i.feed,
                                                    i.contacts, i.tickets, i.support, i.notifications});
}

SyncedIam::~SyncedIam() = default;

}  // namespace portal::iam::synced
