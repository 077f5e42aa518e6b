#include "keyd/iam/authority/feed.h"

#include <ctime>
#include <set>

#include "keyd/iam/errors.h"
#include "keyd/login/login_view.h"
#include "keyd/store/timestamp.h"

namespace portal::iam::authority {
namespace {

// More changes than this since a revision: the host is better off fetching the state.
constexpr std::size_t kMaxFeedChanges = 5000;

}  // namespace

std::string Feed::account_of(const Principal& p, const std::optional<std::string>& account_id) {
    if (p.host) {
        // A host's token is bound to its account: naming another one reaches nothing.
        if (account_id && *account_id != p.host->account_id) throw ApiError::not_found("account not found");
        return p.host->account_id;
    }
    std::optional<Account> a;
    if (account_id) {
        a = b_.store.accounts().get(*account_id);
    } else {
        auto all = b_.store.accounts().all();
        if (!all.empty()) a = all.front();
    }
    if (!a) throw ApiError::not_found("account not found");
    return a->id;
}

ipc::LoginState Feed::state(const Principal& p, const std::optional<std::string>& account_id) {
    authorize({p}, Operation::read_iam_feed);
    const std::string account = account_of(p, account_id);
    ipc::LoginState s;
    b_.store.read([&] {
        login::ViewSettings settings;
        settings.account_id = account;
        s = login::build_login_state(b_.store, settings, static_cast<std::int64_t>(std::time(nullptr)));
    });
    if (p.host) b_.store.hosts().seen(p.host->id, store::now_rfc3339(), s.revision);
    return s;
}

std::optional<FeedChanges> Feed::changes(const Principal& p, const std::optional<std::string>& account_id,
                                         std::uint64_t since) {
    authorize({p}, Operation::read_iam_feed);
    const std::string account = account_of(p, account_id);
    std::optional<FeedChanges> out;
    b_.store.read([&] {
        const std::uint64_t now = b_.store.revision();
        if (since > now) return;  // from the future (a restored authority): start over
        const auto changes = b_.store.changes().since(since, kMaxFeedChanges);
        if (!changes) return;
        FeedChanges f;
        f.revision = now;
        std::set<std::string> users;         // their membership or keys here changed
        std::set<std::string> global_users;  // their user-global record changed (name, 2FA)
        for (const auto& c : *changes) {
            if (c.kind == store::ChangeKind::account) {
                if (c.entity_id != account) continue;
                const auto a = b_.store.accounts().get(account);
                if (!a) return;  // the account is gone
                f.enforce_2fa = a->enforce_2fa;
                continue;
            }
            if (c.user_id.empty()) continue;
            if (c.account_id == account) users.insert(c.user_id);
            else if (c.account_id.empty()) global_users.insert(c.user_id);
        }
        for (const auto& id : users) {
            if (auto m = login::read_login_member(b_.store, account, id)) f.upserts.push_back(std::move(*m));
            else f.removed_user_ids.push_back(id);
        }
        // Another account's users are none of this host's business: a user-global change
        // shows only for the account's members.
        for (const auto& id : global_users) {
            if (users.count(id)) continue;
            if (auto m = login::read_login_member(b_.store, account, id)) f.upserts.push_back(std::move(*m));
        }
        out = std::move(f);
    });
    if (out && p.host) b_.store.hosts().seen(p.host->id, store::now_rfc3339(), out->revision);
    return out;
}

std::uint64_t Feed::revision() { return b_.store.revision(); }

}  // namespace portal::iam::authority
