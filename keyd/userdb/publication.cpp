#include "keyd/userdb/publication.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "keyd/log/log.h"
#include "keyd/userdb/records.h"
#include "shared/ipc/login_rules.h"
#include "shared/unix_name.h"

namespace portal::userdb {

namespace {

std::string id_text(std::uint32_t id) { return std::to_string(id); }

}  // namespace

PublishPlan plan_publication(ipc::LoginState state, const UserdbConfig& cfg,
                             const std::function<bool(std::string_view)>& name_taken_locally,
                             const std::function<bool(std::uint32_t)>& id_taken_locally, const PlanBasis* basis) {
    PublishPlan plan;
    auto& warnings = plan.warnings;

    for (const auto& [role, groups] : cfg.role_groups)
        for (const auto& g : groups)
            if (!name_taken_locally(g))
                warnings.push_back(g + ": group does not exist locally; role " + std::string(to_string(role)) +
                                   " gets no membership in it");

    // We serve the 2FA group ourselves when it does not exist locally; if its gid is taken,
    // sshd's Match Group could not see it and members with 2FA would log in with a key only.
    const bool tfa_group_local = name_taken_locally(cfg.tfa_group);
    const bool tfa_group_blocked = !tfa_group_local && id_taken_locally(cfg.tfa_group_gid);
    if (tfa_group_blocked)
        warnings.push_back(cfg.tfa_group + ": gid " + id_text(cfg.tfa_group_gid) +
                           " exists locally under another name; members with 2FA are not published");

    const ipc::LoginPolicy policy = ipc::policy_of(state);

    // Names and uids that more than one member holds (the store keeps both unique, so
    // normally none): only for those does the order decide who gets it, and only those go
    // through the sets below (10,000 set insertions per plan were a third of its time).
    std::unordered_set<std::string_view> shared_names;
    std::unordered_set<std::uint32_t> shared_ids;
    {
        std::vector<std::string_view> all_names;
        std::vector<std::uint32_t> all_ids;
        all_names.reserve(state.members.size());
        all_ids.reserve(state.members.size());
        for (const auto& m : state.members) {
            all_names.push_back(m.unix_name);
            all_ids.push_back(m.uid);
        }
        if (!std::is_sorted(all_names.begin(), all_names.end())) std::sort(all_names.begin(), all_names.end());
        std::sort(all_ids.begin(), all_ids.end());
        for (std::size_t i = 1; i < all_names.size(); ++i)
            if (all_names[i] == all_names[i - 1]) shared_names.insert(all_names[i]);
        for (std::size_t i = 1; i < all_ids.size(); ++i)
            if (all_ids[i] == all_ids[i - 1]) shared_ids.insert(all_ids[i]);
    }
    // The previous plan's verdicts, walked in name order beside this state's members. A
    // member's verdict follows from what is compared here, the rules (the same), cfg and the
    // local accounts (the caller's promise): equal, it is the same verdict. Support staff are
    // judged every time: their access window ends with the clock.
    const auto by_name = [](const ipc::LoginMember& a, const ipc::LoginMember& b) { return a.unix_name < b.unix_name; };
    plan.shared = !shared_names.empty() || !shared_ids.empty();
    const bool carry = basis && !plan.shared && !basis->shared &&
                       basis->planned.enforce_2fa == state.enforce_2fa &&
                       basis->planned.login_roles == state.login_roles &&
                       std::is_sorted(state.members.begin(), state.members.end(), by_name) &&
                       std::is_sorted(basis->planned.members.begin(), basis->planned.members.end(), by_name);
    const std::vector<ipc::LoginMember>* before = carry ? &basis->planned.members : nullptr;
    std::unordered_map<std::string_view, const Refusal*> refused_before;  // by user id
    if (carry)
        for (const auto& r : basis->refused) refused_before.emplace(r.user_id, &r);
    std::size_t walk = 0;
    auto carried = [&](const ipc::LoginMember& m) -> const ipc::LoginMember* {
        if (!before || m.role == Role::support) return nullptr;
        while (walk < before->size() && (*before)[walk].unix_name < m.unix_name) ++walk;
        if (walk == before->size()) return nullptr;
        const ipc::LoginMember& had = (*before)[walk];
        // The user id only matters for a refusal (carried by it); the published are most.
        const bool same = had.uid == m.uid && had.status == m.status && had.role == m.role &&
                          had.tfa_enabled == m.tfa_enabled && had.access_until == m.access_until &&
                          had.unix_name == m.unix_name && (had.published || had.user_id == m.user_id);
        return same ? &had : nullptr;
    };

    std::unordered_set<std::string> names;
    std::unordered_set<std::uint32_t> ids;
    for (auto& m : state.members) {
        if (const ipc::LoginMember* had = carried(m)) {
            m.published = had->published;
            ++plan.carried;
            if (auto r = refused_before.find(m.user_id); !had->published && r != refused_before.end()) {
                warnings.push_back(r->second->unix_name + ": " + r->second->reason);
                plan.refused.push_back(*r->second);
            }
            continue;
        }
        m.published = false;
        bool eligible = m.status == MemberStatus::deactivated;
        if (!eligible) {
            // Judged as if published (the rules after that one). Published too: a member
            // refused only for lacking 2FA under Enforce 2FA. They are put in the 2FA group,
            // so sshd runs pam_portal.so, which tells them to enrol.
            m.published = true;
            const auto d = ipc::check_member(state, m, policy);
            eligible = d.allow || d.reason == ipc::reason::tfa_enrolment_required;
            m.published = false;
        }
        if (!eligible) continue;

        const std::string& name = m.unix_name;
        auto refuse = [&](const std::string& why) {
            warnings.push_back(log::sanitize(name, 64) + ": " + why);
            plan.refused.push_back(Refusal{log::sanitize(name, 64), m.uid, m.user_id, why});
        };
        if (!is_valid_unix_name(name)) {
            refuse("not a valid user name");
            continue;
        }
        if (is_reserved_unix_name(name)) {
            refuse("name is reserved");
            continue;
        }
        if (!is_publishable_id(m.uid)) {
            refuse("uid " + id_text(m.uid) + " cannot be used");
            continue;
        }
        if (cfg.uid_max != 0 && (m.uid < cfg.uid_min || m.uid > cfg.uid_max)) {
            refuse("uid " + id_text(m.uid) + " is outside this server's [users] uid range");
            continue;
        }
        if (names.count(name)) {
            refuse("name is already used by another member");
            continue;
        }
        if (ids.count(m.uid)) {
            refuse("uid " + id_text(m.uid) + " is already used by another member");
            continue;
        }
        if (!tfa_group_local && m.uid == cfg.tfa_group_gid) {
            refuse("uid " + id_text(m.uid) + " is the gid of group " + cfg.tfa_group);
            continue;
        }
        if (must_give_code(m, state) && !is_locked(m) && tfa_group_blocked) {
            refuse("group " + cfg.tfa_group + " cannot be published");
            continue;
        }
        if (name_taken_locally(name)) {
            refuse("name exists locally");
            continue;
        }
        if (id_taken_locally(m.uid)) {
            refuse("uid " + id_text(m.uid) + " exists locally");
            continue;
        }
        m.published = true;
        if (shared_names.count(name)) names.insert(name);
        if (shared_ids.count(m.uid)) ids.insert(m.uid);
    }
    plan.state = std::move(state);
    return plan;
}

}  // namespace portal::userdb
