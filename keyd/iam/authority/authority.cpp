#include "keyd/iam/authority/authority.h"

#include <utility>

namespace portal::iam::authority {

Authority::Authority(store::Store& store, tfa::TfaService& tfa, std::function<void()> on_change)
    : backend_{store, tfa, std::move(on_change)} {}

Services Authority::services() {
    return Services{callers_, accounts_, members_, keys_, profiles_, two_factor_, invitations_, tokens_, sessions_, hosts_, allowlist_, feed_,
                    contacts_, tickets_, support_, notifications_};
}

}  // namespace portal::iam::authority
