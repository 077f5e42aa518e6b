#include "keyd/api/views.h"

namespace portal::api {

nlohmann::json account_json(const Account& a) {
    return {{"id", a.id}, {"name", a.name}, {"enforce_2fa", a.enforce_2fa}, {"created_at", a.created_at}};
}

nlohmann::json account_membership_json(const Account& a, Role r) {
    return {{"id", a.id}, {"name", a.name}, {"role", to_string(r)}};
}

nlohmann::json user_json(const AccountUser& au) {
    const User& u = au.user;
    // Without the person record (keyd/iam/guard.h sees_person_record), the membership only.
    if (u.unix_name.empty())
        return {{"id", u.id},
                {"email", u.email},
                {"role", to_string(au.membership.role)},
                {"status", to_string(au.membership.status)},
                {"created_at", au.membership.created_at},
                {"updated_at", au.membership.updated_at}};
    nlohmann::json last = nullptr;
    if (u.last_login)
        last = {{"at", u.last_login->at},
                {"ip", u.last_login->ip},
                {"host", u.last_login->host},
                {"method", u.last_login->method},
                {"status", u.last_login->status}};
    return {{"id", u.id},
            {"email", u.email},
            {"name", u.name},
            {"unix_name", u.unix_name},
            {"uid", u.uid},
            {"role", to_string(au.membership.role)},
            {"status", to_string(au.membership.status)},
            {"tfa_enabled", u.tfa_enabled},
            {"last_login", last},
            {"created_at", u.created_at},
            {"updated_at", std::max(u.updated_at, au.membership.updated_at)}};
}

nlohmann::json invitation_json(const iam::Invitation& i) {
    return {{"account_id", i.account.id}, {"account_name", i.account.name}, {"role", to_string(i.role)},
            {"invited_at", i.invited_at}};
}

nlohmann::json ssh_key_json(const SshKey& k) {
    return {{"name", k.name},
            {"fingerprint", k.fingerprint},
            {"fingerprint_sha256", k.fingerprint_sha256},
            {"public_key", k.public_key},
            {"type", k.type},
            {"bits", k.bits},
            {"user_id", k.user_id},
            {"labels", k.labels},
            {"created_at", k.created_at},
            {"updated_at", k.updated_at}};
}

nlohmann::json api_token_json(const ApiToken& t) {
    auto optional = [](const std::optional<std::string>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
    return {{"id", t.id},
            {"name", t.name},
            {"access_level", std::string(to_string(t.access))},
            {"user_id", t.user_id},
            {"created_at", t.created_at},
            {"expires_at", optional(t.expires_at)},
            {"last_used_at", optional(t.last_used_at)}};
}

nlohmann::json host_json(const Host& h) {
    return {{"id", h.id},
            {"hostname", h.hostname},
            {"labels", h.labels},
            {"version", h.version},
            {"created_at", h.created_at},
            {"last_seen_at", h.last_seen_at ? nlohmann::json(*h.last_seen_at) : nlohmann::json()},
            {"revision", h.revision},
            {"status", h.status}};
}

nlohmann::json login_event_json(const LoginEvent& e) {
    return {{"id", e.id},
            {"host_id", e.host_id},
            {"at", e.at},
            {"unix_name", e.unix_name},
            {"user_id", e.user_id ? nlohmann::json(*e.user_id) : nlohmann::json()},
            {"ip", e.ip},
            {"method", e.method},
            {"decision", e.decision},
            {"reason", e.reason}};
}

nlohmann::json server_json(const iam::ServerStatus& s, const char* mode) {
    nlohmann::json collisions = nlohmann::json::array();
    for (const auto& c : s.collisions)
        collisions.push_back({{"user_id", c.user_id}, {"unix_name", c.unix_name}, {"uid", c.uid}, {"reason", c.reason}});
    nlohmann::json state_file{{"current", s.state_file_current}};
    if (!s.state_file_error.empty()) state_file["error"] = s.state_file_error;
    nlohmann::json https = nullptr;  // off
    if (!s.https_endpoints.empty()) https = {{"listening", s.https_endpoints}, {"pin", s.https_pin}};
    if (!s.https_error.empty()) https = {{"listening", nlohmann::json::array()}, {"error", s.https_error}};
    return {{"mode", mode},           {"account_id", s.account_id}, {"revision", s.revision},
            {"state_file", state_file}, {"collisions", collisions},   {"https", https},
            {"users", {{"uid_min", s.uid_min}, {"uid_max", s.uid_max}, {"home_base", s.home_base}}}};
}

}  // namespace portal::api
