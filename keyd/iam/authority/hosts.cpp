#include "keyd/iam/authority/hosts.h"

#include <ctime>

#include "keyd/iam/authority/tokens.h"
#include "keyd/iam/errors.h"
#include "keyd/store/timestamp.h"
#include "shared/random.h"

namespace portal::iam::authority {

namespace {

// last_seen_at is kept to the minute; RFC 3339 text compares as time.
Host with_status(Host h, const std::string& online_since) {
    if (!h.last_seen_at) h.status = "registered";
    else h.status = *h.last_seen_at >= online_since.substr(0, 16) ? "online" : "stale";
    return h;
}

std::string online_since() { return store::format_rfc3339(std::time(nullptr) - kHostOnlineSeconds); }

}  // namespace

std::vector<Host> Hosts::list(const Caller& c) {
    authorize({c.principal, &c}, Operation::list_hosts);
    auto hosts = b_.store.hosts().of_account(c.account.id);
    const std::string since = online_since();
    for (auto& h : hosts) h = with_status(std::move(h), since);
    return hosts;
}

Host Hosts::get(const Caller& c, const std::string& id) {
    authorize({c.principal, &c}, Operation::get_host);
    auto h = b_.store.hosts().get(c.account.id, id);
    if (!h) throw ApiError::not_found("host not found");
    return with_status(std::move(*h), online_since());
}

CreatedEnrolment Hosts::create_enrolment(const Caller& c, const NewEnrolment& e) {
    authorize({c.principal, &c}, Operation::create_host_enrolment);
    CreatedEnrolment out;
    out.secret = new_credential(kEnrolmentTokenPrefix);
    HostEnrolment& en = out.enrolment;
    en.id = random_id("enr_");
    en.account_id = c.account.id;
    en.name = e.name;
    en.labels = e.labels;
    const std::time_t now = std::time(nullptr);
    en.created_at = store::format_rfc3339(now);
    en.expires_at = store::format_rfc3339(now + static_cast<std::time_t>(e.expires_in.count()));
    b_.write_quietly([&] { b_.store.hosts().insert_enrolment(en, credential_hash(out.secret)); });
    return out;
}

void Hosts::remove(const Caller& c, const std::string& id) {
    authorize({c.principal, &c}, Operation::delete_host);
    bool removed = false;
    b_.write_quietly([&] { removed = b_.store.hosts().remove(c.account.id, id); });
    if (!removed) throw ApiError::not_found("host not found");
    b_.changed();  // wakes the host's long-poll, which is then answered 401 at once
}

RegisteredHost Hosts::register_host(const Principal& p, const Registration& r) {
    authorize({p}, Operation::register_host);
    if (!well_formed_credential(r.enrolment_token, kEnrolmentTokenPrefix)) throw ApiError::credential_not_accepted();
    RegisteredHost out;
    out.secret = new_credential(kHostTokenPrefix);
    Host h;
    h.id = random_id("hst_");
    h.hostname = r.hostname;
    h.version = r.version;
    h.created_at = store::now_rfc3339();
    std::optional<Host> made;
    b_.write_quietly([&] {
        made = b_.store.hosts().register_host(credential_hash(r.enrolment_token), h.created_at, h,
                                              credential_hash(out.secret));
    });
    if (!made) throw ApiError::credential_not_accepted();  // unknown, used or expired: one answer
    out.host = *made;
    return out;
}

PageResult<LoginEvent> Hosts::logins(const Caller& c, const PageRequest& pg) {
    authorize({c.principal, &c}, Operation::list_logins);
    PageResult<LoginEvent> out;
    const auto page = to_store_page(pg);
    out.items = b_.store.hosts().login_events(c.account.id, page.offset, page.limit, out.total);
    return out;
}

}  // namespace portal::iam::authority
