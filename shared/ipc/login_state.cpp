#include "shared/ipc/login_state.h"

#include <unordered_set>

#include <nlohmann/json.hpp>

#include "shared/cidr.h"
#include "shared/ipc/json_fields.h"
#include "shared/ipc/login_member_json.h"

namespace portal::ipc {

using nlohmann::json;

namespace {

std::string in_quotes(std::string_view s) {
    std::string q = "\"";
    q += s.substr(0, 32);
    q += '"';
    return q;
}

bool parse_key(const json& j, std::string path, LoginKey& key, std::string& error) {
    FieldReader r(j, std::move(path), error);
    r.get("line", key.line);
    r.get("fingerprint_sha256", key.fingerprint_sha256);
    if (r.ok() && key.line.empty()) r.fail("line", "empty");
    if (r.ok() && key.line.find_first_of("\r\n") != std::string::npos) r.fail("line", "contains a newline");
    return r.only({"line", "fingerprint_sha256"});
}

}  // namespace

bool parse_member(const json& j, std::string path, LoginMember& m, std::string& error) {
    FieldReader r(j, std::move(path), error);
    std::string role, status;
    r.get("unix_name", m.unix_name);
    r.get("uid", m.uid);
    r.get("user_id", m.user_id);
    r.get("role", role);
    r.get("status", status);
    r.get("tfa_enabled", m.tfa_enabled);
    r.get("published", m.published);
    std::int64_t access_until = -1;
    r.get("access_until", access_until, /*required=*/false);
    const json* keys = r.array("keys");
    if (!r.ok()) return false;
    if (const auto profile = j.find("profile"); profile != j.end()) {
        MemberProfile checked;
        if (!parse_profile(*profile, r.field_path("profile"), checked, error)) return false;
        m.profile = std::make_shared<const std::string>(profile->dump(-1, ' ', false, json::error_handler_t::replace));
    }
    if (m.unix_name.empty()) return r.fail("unix_name", "empty");
    if (auto parsed = parse_role(role)) m.role = *parsed;
    else return r.fail("role", "unknown role " + in_quotes(role));
    if (auto parsed = parse_member_status(status)) m.status = *parsed;
    else return r.fail("status", "unknown status " + in_quotes(status));
    if (j.contains("access_until")) {
        if (access_until < 0) return r.fail("access_until", "must be unix seconds, not negative");
        if (m.role != Role::support) return r.fail("access_until", "only a support membership has an end");
        m.access_until = access_until;
    }
    m.keys.reserve(keys->size());
    for (std::size_t i = 0; i < keys->size(); ++i) {
        LoginKey key;
        if (!parse_key((*keys)[i], element_path(r, "keys", i), key, error)) return false;
        m.keys.push_back(std::move(key));
    }
    return r.only(
        {"unix_name", "uid", "user_id", "role", "status", "tfa_enabled", "published", "access_until", "keys", "profile"});
}

json member_json(const LoginMember& m) {
    json keys = json::array();
    for (const auto& k : m.keys) keys.push_back({{"line", k.line}, {"fingerprint_sha256", k.fingerprint_sha256}});
    json j{{"unix_name", m.unix_name},
           {"uid", m.uid},
           {"user_id", m.user_id},
           {"role", to_string(m.role)},
           {"status", to_string(m.status)},
           {"tfa_enabled", m.tfa_enabled},
           {"published", m.published},
           {"keys", std::move(keys)}};
    if (m.access_until) j["access_until"] = *m.access_until;
    if (m.profile) j["profile"] = json::parse(*m.profile, nullptr, /*allow_exceptions=*/false);
    return j;
}

LoginState header_of(const LoginState& state) {
    LoginState out;
    out.version = state.version;
    out.revision = state.revision;
    out.generated_at = state.generated_at;
    out.grace_seconds = state.grace_seconds;
    out.account_id = state.account_id;
    out.enforce_2fa = state.enforce_2fa;
    out.login_roles = state.login_roles;
    out.ssh_ip_allowlist = state.ssh_ip_allowlist;
    out.account_name = state.account_name;
    return out;
}

const LoginMember* LoginState::find(std::string_view unix_name) const {
    for (const auto& m : members)
        if (m.unix_name == unix_name) return &m;
    return nullptr;
}

namespace {

// Everything of `state` but its members, with `version`.
json header_json(const LoginState& state, int version) {
    json roles = json::array();
    for (Role r : state.login_roles) roles.push_back(to_string(r));
    json j{{"version", version},
           {"revision", state.revision},
           {"generated_at", state.generated_at},
           {"grace_seconds", state.grace_seconds},
           {"account_id", state.account_id},
           {"enforce_2fa", state.enforce_2fa},
           {"login_roles", std::move(roles)}};
    if (state.ssh_ip_allowlist) j["ssh_ip_allowlist"] = *state.ssh_ip_allowlist;
    if (state.account_name) j["account_name"] = *state.account_name;
    return j;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// The fields header_json writes, but version (checked by the caller) and members.
bool parse_header_fields(const json& j, FieldReader& r, LoginState& state, std::string& error) {
    r.get("revision", state.revision);
    r.get("generated_at", state.generated_at);
    r.get("grace_seconds", state.grace_seconds);
    r.get("account_id", state.account_id);
    r.get("enforce_2fa", state.enforce_2fa);
    const json* roles = r.array("login_roles", /*required=*/false);
    const json* allowlist = r.array("ssh_ip_allowlist", /*required=*/false);
    if (j.contains("account_name")) {
        std::string name;
        if (r.get("account_name", name) && name.size() > 1024) r.fail("account_name", "too long");
        state.account_name = std::move(name);
    }
    if (!r.ok()) return false;
    if (allowlist) {
        state.ssh_ip_allowlist.emplace();
        for (std::size_t i = 0; i < allowlist->size(); ++i) {
            const json& v = (*allowlist)[i];
            std::string why = "not a string";
            if (v.is_string() && parse_cidr(v.get_ref<const std::string&>(), why)) {
                state.ssh_ip_allowlist->push_back(v.get<std::string>());
                continue;
            }
            error = element_path(r, "ssh_ip_allowlist", i) + ": " + why;
            return false;
        }
    }
    if (state.grace_seconds < 0) return r.fail("grace_seconds", "must not be negative");
    if (roles) {
        state.login_roles.clear();
        for (std::size_t i = 0; i < roles->size(); ++i) {
            const json& v = (*roles)[i];
            std::optional<Role> role;
            if (v.is_string()) role = parse_role(v.get_ref<const std::string&>());
            if (!role) {
                error = element_path(r, "login_roles", i) + ": not a role";
                return false;
            }
            state.login_roles.push_back(*role);
        }
    }
    return true;
}

bool check_version(FieldReader& r, int expected) {
    std::int64_t version = 0;
    if (!r.get("version", version)) return false;
    if (version != expected) return r.fail("version", "unsupported version " + std::to_string(version));
    return true;
}

}  // namespace

std::string member_to_json(const LoginMember& m) { return dump(member_json(m)); }

std::string to_json(const LoginState& state) {
    json j = header_json(state, state.version);
    json members = json::array();
    for (const auto& m : state.members) members.push_back(member_json(m));
    j["members"] = std::move(members);
    return dump(j);
}

std::string header_to_json(const LoginState& state) { return dump(header_json(state, kStateDirVersion)); }

std::optional<LoginState> header_from_json(std::string_view text, std::string& error) {
    error.clear();
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        error = "not valid JSON";
        return std::nullopt;
    }
    LoginState state;
    FieldReader r(j, "", error);
    if (!check_version(r, kStateDirVersion)) return std::nullopt;
    state.version = kStateDirVersion;
    if (!parse_header_fields(j, r, state, error)) return std::nullopt;
    if (!r.only({"version", "revision", "generated_at", "grace_seconds", "account_id", "enforce_2fa", "login_roles",
                 "ssh_ip_allowlist", "account_name"}))
        return std::nullopt;
    return state;
}

std::string member_entry_to_json(const MemberEntry& entry) {
    const json j{{"version", kStateDirVersion},
                 {"account_id", entry.account_id},
                 {"revision", entry.revision},
                 {"member", member_json(entry.member)}};
    return dump(j);
}

std::optional<MemberEntry> member_entry_from_json(std::string_view text, std::string& error) {
    error.clear();
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        error = "not valid JSON";
        return std::nullopt;
    }
    MemberEntry entry;
    FieldReader r(j, "", error);
    if (!check_version(r, kStateDirVersion)) return std::nullopt;
    r.get("account_id", entry.account_id);
    r.get("revision", entry.revision);
    if (!r.ok()) return std::nullopt;
    const auto member = j.find("member");
    if (member == j.end()) {
        r.fail("member", "missing");
        return std::nullopt;
    }
    if (!parse_member(*member, r.field_path("member"), entry.member, error)) return std::nullopt;
    if (!r.only({"version", "account_id", "revision", "member"})) return std::nullopt;
    return entry;
}

std::optional<LoginState> login_state_from_json(std::string_view text, std::string& error,
                                                std::optional<std::string_view> only_member) {
    error.clear();
    // Members are read as the parser finishes each one and then dropped from the document: the
    // whole state is never held as a JSON tree (at 10,000 members with profiles that tree is
    // several times the size of the members it becomes). Objects at depth 2 under the top-level
    // key "members" are its elements.
    std::vector<LoginMember> streamed;
    std::string member_error;
    std::string top_key;
    int members_keys = 0;
    std::size_t index = 0;
    json::parser_callback_t take_member = [&](int depth, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::key && depth == 1) {
            top_key = parsed.is_string() ? parsed.get<std::string>() : std::string();
            if (top_key == "members") ++members_keys;
            return true;
        }
        if (depth != 2 || top_key != "members") return true;
        if (event == json::parse_event_t::value || event == json::parse_event_t::array_end) {
            // An element that is not an object: named, then dropped like the rest.
            const std::size_t i = index++;
            if (member_error.empty()) member_error = "members[" + std::to_string(i) + "]: not an object";
            return false;
        }
        if (event != json::parse_event_t::object_end) return true;
        const std::size_t i = index++;
        if (only_member) {
            const auto it = parsed.find("unix_name");
            if (it != parsed.end() && it->is_string() && it->get_ref<const std::string&>() != *only_member) return false;
        }
        if (!member_error.empty()) return false;
        LoginMember m;
        if (parse_member(parsed, "members[" + std::to_string(i) + "]", m, member_error)) streamed.push_back(std::move(m));
        return false;
    };
    const json j = json::parse(text, take_member, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        error = "not valid JSON";
        return std::nullopt;
    }
    LoginState state;
    FieldReader r(j, "", error);
    if (!check_version(r, kLoginStateVersion)) return std::nullopt;
    state.version = kLoginStateVersion;
    if (!parse_header_fields(j, r, state, error)) return std::nullopt;
    const json* members = r.array("members");
    if (!r.ok()) return std::nullopt;
    if (members_keys != 1 || !members->empty()) {
        r.fail("members", "must be one array of member objects");
        return std::nullopt;
    }
    if (!member_error.empty()) {
        error = member_error;
        return std::nullopt;
    }
    state.members = std::move(streamed);
    std::unordered_set<std::string_view> seen;
    seen.reserve(state.members.size());
    // A name listed twice would make the decision depend on order: refuse the file.
    for (std::size_t i = 0; i < state.members.size(); ++i) {
        if (!seen.insert(state.members[i].unix_name).second) {
            error = "members[" + std::to_string(i) + "].unix_name: duplicate " + in_quotes(state.members[i].unix_name);
            return std::nullopt;
        }
    }
    if (!r.only({"version", "revision", "generated_at", "grace_seconds", "account_id", "enforce_2fa",
                 "login_roles", "ssh_ip_allowlist", "account_name", "members"}))
        return std::nullopt;
    return state;
}

}  // namespace portal::ipc
