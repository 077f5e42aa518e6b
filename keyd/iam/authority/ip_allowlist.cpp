#include "keyd/iam/authority/ip_allowlist.h"

#include <algorithm>

#include "keyd/iam/authority/security_notices.h"
#include "keyd/iam/errors.h"
#include "keyd/store/timestamp.h"
#include "shared/cidr.h"
#include "shared/random.h"

namespace portal::iam::authority {
namespace {

std::string canonical_cidr(const std::string& text) {
    std::string why;
    auto c = parse_cidr(text, why);
    if (!c) throw ApiError::unprocessable("cidr", why);
    return c->text();
}

// Over HTTPS (the socket is local and not subject to the list): the change must not shut the
// caller's own address out while the list is active.
void keep_caller_listed(const Caller& c, const IpAllowlist& before, const IpAllowlist& after, const char* field) {
    const std::string& here = c.principal.remote_address;
    if (here.empty() || !after.active) return;
    if (allowlist_admits(before, here) && !allowlist_admits(after, here))
        throw ApiError::unprocessable(field, "this is the last entry that lists your own address (" + here +
                                                 ") while the allowlist is active: add another first");
}

std::vector<IpAllowlistEntry>::iterator find_entry(IpAllowlist& list, const std::string& id) {
    auto it = std::find_if(list.entries.begin(), list.entries.end(), [&](const auto& e) { return e.id == id; });
    if (it == list.entries.end()) throw ApiError::not_found("allowlist entry not found");
    return it;
}

}  // namespace

bool allowlist_admits(const IpAllowlist& list, std::string_view address) {
    if (!list.active) return true;
    const auto ip = parse_ip(address);
    if (!ip) return false;
    return std::any_of(list.entries.begin(), list.entries.end(),
                       [&](const IpAllowlistEntry& e) { return network_contains(e.cidr, *ip); });
}

IpAllowlist IpAllowlists::get(const Caller& c) {
    authorize({c.principal, &c}, Operation::get_ip_allowlist);
    return b_.store.ip_allowlist().of_account(c.account.id);
}

IpAllowlist IpAllowlists::set_active(const Caller& c, bool active) {
    authorize({c.principal, &c}, Operation::change_ip_allowlist);
    IpAllowlist list = b_.store.ip_allowlist().of_account(c.account.id);
    if (list.active == active) return list;
    IpAllowlist after = list;
    after.active = active;
    const std::string& here = c.principal.remote_address;
    if (active && !here.empty() && !allowlist_admits(after, here))
        throw ApiError::unprocessable("active", "no entry lists your own address (" + here +
                                                    "): add one first, or you would lock yourself out");
    b_.write([&] {
        b_.store.ip_allowlist().set_active(c.account.id, active, store::now_rfc3339());
        queue_security_notice(b_.store, c.account.id, SecurityEvent::ip_allowlist_changed,
                              active ? "the IP allowlist is now active: portal sessions work only from its networks."
                                     : "the IP allowlist is now inactive: portal sessions work from any address.",
                              c.principal);
    });
    if (active) end_unlisted_sessions(c.account.id, after);
    return after;
}

IpAllowlistEntry IpAllowlists::add(const Caller& c, const AllowlistEntryChange& change) {
    authorize({c.principal, &c}, Operation::change_ip_allowlist);
    if (!change.cidr) throw ApiError::unprocessable("cidr", "is required");
    IpAllowlistEntry e;
    e.id = random_id("ipa_");
    e.cidr = canonical_cidr(*change.cidr);
    e.comment = change.comment.value_or("");
    e.created_at = e.updated_at = store::now_rfc3339();
    b_.write([&] { b_.store.ip_allowlist().insert(c.account.id, e); });
    return e;  // a new entry only widens the list: no session ends
}

IpAllowlistEntry IpAllowlists::update(const Caller& c, const std::string& id, const AllowlistEntryChange& change) {
    authorize({c.principal, &c}, Operation::change_ip_allowlist);
    const IpAllowlist before = b_.store.ip_allowlist().of_account(c.account.id);
    IpAllowlist after = before;
    auto it = find_entry(after, id);
    if (change.cidr) it->cidr = canonical_cidr(*change.cidr);
    if (change.comment) it->comment = *change.comment;
    it->updated_at = store::now_rfc3339();
    keep_caller_listed(c, before, after, "cidr");
    const IpAllowlistEntry e = *it;
    bool found = false;
    b_.write([&] { found = b_.store.ip_allowlist().update(c.account.id, e); });
    if (!found) throw ApiError::not_found("allowlist entry not found");
    if (after.active) end_unlisted_sessions(c.account.id, after);
    return e;
}

void IpAllowlists::remove(const Caller& c, const std::string& id) {
    authorize({c.principal, &c}, Operation::change_ip_allowlist);
    const IpAllowlist before = b_.store.ip_allowlist().of_account(c.account.id);
    IpAllowlist after = before;
    after.entries.erase(find_entry(after, id));
    keep_caller_listed(c, before, after, "id");
    bool found = false;
    b_.write([&] { found = b_.store.ip_allowlist().remove(c.account.id, id); });
    if (!found) throw ApiError::not_found("allowlist entry not found");
    if (after.active) end_unlisted_sessions(c.account.id, after);
}

void IpAllowlists::end_unlisted_sessions(const std::string& account_id, const IpAllowlist& list) {
    std::vector<std::string> ended;
    for (const auto& s : b_.store.sessions().of_account_members(account_id))
        if (!allowlist_admits(list, s.ip)) ended.push_back(s.id);
    if (ended.empty()) return;
    b_.write_quietly([&] {
        for (const auto& id : ended) b_.store.sessions().remove(id);
    });
}

}  // namespace portal::iam::authority
