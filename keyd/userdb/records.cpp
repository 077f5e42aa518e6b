#include "keyd/userdb/records.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace portal::userdb {

using nlohmann::json;

void ensure_userdb_bypass(const UserdbConfig& cfg) {
    const char* current = std::getenv("SYSTEMD_BYPASS_USERDB");
    std::string value = current ? current : "";
    std::string_view rest = value;
    while (!rest.empty()) {
        const auto colon = rest.find(':');
        if (rest.substr(0, colon) == cfg.service) return;
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    if (!value.empty()) value.push_back(':');
    value += cfg.service;
    ::setenv("SYSTEMD_BYPASS_USERDB", value.c_str(), 1);
}

std::string home_directory(const UserdbConfig& cfg, std::string_view name) {
    return (std::filesystem::path(cfg.home_base) / std::string(name)).lexically_normal().string();
}

json user_record(const ipc::LoginMember& m, const UserdbConfig& cfg) {
    json r = {
        {"userName", m.unix_name},
        {"uid", m.uid},
        {"gid", m.uid},
        {"homeDirectory", home_directory(cfg, m.unix_name)},
        {"shell", cfg.shell},
        {"disposition", "regular"},
        {"service", cfg.service},
    };
    if (is_locked(m)) r["locked"] = true;
    return r;
}

namespace {
std::string json_string(std::string_view v) {
    return json(v).dump(-1, ' ', false, json::error_handler_t::replace);
}
}  // namespace

UserRecordTexts user_record_texts(const ipc::LoginMember& m, const UserdbConfig& cfg) {
    // Keys in nlohmann's (std::map) order: disposition, gid, homeDirectory, locked,
    // privileged, service, shell, uid, userName.
    const std::string uid = std::to_string(m.uid);
    std::string head = R"({"disposition":"regular","gid":)" + uid + R"(,"homeDirectory":)" +
                       json_string(home_directory(cfg, m.unix_name));
    if (is_locked(m)) head += R"(,"locked":true)";
    std::string tail = R"(,"service":)" + json_string(cfg.service) + R"(,"shell":)" + json_string(cfg.shell) +
                       R"(,"uid":)" + uid + R"(,"userName":)" + json_string(m.unix_name) + "}";
    UserRecordTexts out;
    out.public_text = head + tail;
    if (!is_locked(m) && !m.keys.empty()) {
        std::string priv = head + R"(,"privileged":{"sshAuthorizedKeys":[)";
        for (std::size_t i = 0; i < m.keys.size(); ++i) {
            if (i) priv += ',';
            priv += json_string(m.keys[i].line);
        }
        priv += "]}";
        out.privileged_text = std::move(priv) + tail;
    }
    return out;
}

std::optional<json> privileged_section(const ipc::LoginMember& m) {
    if (is_locked(m) || m.keys.empty()) return std::nullopt;
    json keys = json::array();
    for (const auto& k : m.keys) keys.push_back(k.line);
    return json{{"sshAuthorizedKeys", std::move(keys)}};
}

json group_record(std::string_view name, std::uint32_t gid, std::string_view service) {
    return json{{"groupName", name}, {"gid", gid}, {"service", service}};
}

json group_record(std::string_view name, std::uint32_t gid, const UserdbConfig& cfg) {
    return group_record(name, gid, cfg.service);
}

bool must_give_code(const ipc::LoginMember& m, const ipc::LoginState& state) { return m.tfa_enabled || state.enforce_2fa; }

std::vector<std::string> member_groups(const ipc::LoginMember& m, const ipc::LoginState& state, const UserdbConfig& cfg) {
    std::vector<std::string> out;
    if (is_locked(m) || m.status != MemberStatus::active) return out;
    if (auto it = cfg.role_groups.find(m.role); it != cfg.role_groups.end()) out = it->second;
    if (must_give_code(m, state) && !cfg.tfa_group.empty()) out.push_back(cfg.tfa_group);
    return out;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool is_valid_service_name(std::string_view service) {
    if (service.empty() || service.size() > 64 || service == "." || service == "..") return false;
    for (char c : service) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

bool is_publishable_id(std::uint32_t id) { return id != 0 && id != 65535 && id <= 0x7fffffffu; }

}  // namespace portal::userdb
