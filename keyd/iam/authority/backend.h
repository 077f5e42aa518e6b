// What every authority implementation works on: the embedded store, the TOTP service and
// the change notification; plus the pieces they share (the write helper, the guard's
// subjects, paging).
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "keyd/iam/guard.h"
#include "keyd/iam/paging.h"
#include "keyd/store/store.h"
#include "keyd/tfa/tfa_service.h"

namespace portal::iam::authority {

struct Backend {
    store::Store& store;
    tfa::TfaService& tfa;
    // Runs after every committed write that changed IAM state (login view refresh).
    std::function<void()> on_change;

    // Runs a write in one transaction, mapping store conflicts to 409, then notifies.
    void write(const std::function<void()>& f);
    // One write of state no server follows (API tokens: the table writes untracked, in its
    // own transaction), conflicts mapped to 409; no change notification.
    void write_quietly(const std::function<void()>& f);
    void changed() const {
        if (on_change) on_change();
    }

    // The guard's view of a user: their role here and every membership they hold.
    Subject subject_of(const std::string& user_id, std::optional<Role> role_here);
    AccountUser member_or_404(const Caller& c, const std::string& user_id);
};

inline store::Page to_store_page(const PageRequest& pg) { return {(pg.page - 1) * pg.per_page, pg.per_page}; }

// One page of an already filtered listing.
template <class T>
PageResult<T> slice(std::vector<T> all, const PageRequest& pg) {
    PageResult<T> r;
    r.total = static_cast<std::int64_t>(all.size());
    auto first = std::min<std::int64_t>((pg.page - 1) * pg.per_page, r.total);
    auto last = std::min<std::int64_t>(first + pg.per_page, r.total);
    r.items.assign(std::make_move_iterator(all.begin() + first), std::make_move_iterator(all.begin() + last));
    return r;
}

}  // namespace portal::iam::authority
