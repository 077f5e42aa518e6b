#include "shared/ipc/feed_changes.h"

#include <unordered_set>

#include <nlohmann/json.hpp>

#include "shared/cidr.h"
#include "shared/ipc/json_fields.h"
#include "shared/ipc/login_member_json.h"

namespace portal::ipc {

using nlohmann::json;

std::string feed_changes_to_json(const FeedChanges& c) {
    json upserts = json::array();
    for (const auto& m : c.upserts) upserts.push_back(member_json(m));
    json j{{"revision", c.revision}, {"upserts", std::move(upserts)}, {"removed", c.removed_user_ids}};
    if (c.enforce_2fa) {
        j["enforce_2fa"] = *c.enforce_2fa;
        j["ssh_ip_allowlist"] = c.ip_allowlist ? json(*c.ip_allowlist) : json(nullptr);
        if (c.account_name) j["account_name"] = *c.account_name;
    }
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<FeedChanges> feed_changes_from_json(std::string_view text, std::string& error) {
    error.clear();
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        error = "not valid JSON";
        return std::nullopt;
    }
    FeedChanges c;
    FieldReader r(j, "", error);
    r.get("revision", c.revision);
    const json* upserts = r.array("upserts");
    const json* removed = r.array("removed");
    if (!r.ok()) return std::nullopt;
    bool enforce = false;
    if (j.contains("enforce_2fa")) {
        if (!r.get("enforce_2fa", enforce)) return std::nullopt;
        c.enforce_2fa = enforce;
        const auto list = j.find("ssh_ip_allowlist");
        if (list == j.end()) {
            r.fail("ssh_ip_allowlist", "missing (it comes with enforce_2fa)");
            return std::nullopt;
        }
        if (!list->is_null()) {
            if (!list->is_array()) {
                r.fail("ssh_ip_allowlist", "must be an array or null");
                return std::nullopt;
            }
            c.ip_allowlist.emplace();
            for (std::size_t i = 0; i < list->size(); ++i) {
                const json& v = (*list)[i];
                std::string why = "not a string";
                std::optional<Cidr> net;
                if (v.is_string()) net = parse_cidr(v.get_ref<const std::string&>(), why);
                if (net && net->text() != v.get_ref<const std::string&>()) why = "not canonical (" + net->text() + ")";
                else if (net) {
                    c.ip_allowlist->push_back(v.get<std::string>());
                    continue;
                }
                error = element_path(r, "ssh_ip_allowlist", i) + ": " + why;
                return std::nullopt;
            }
        }
        if (j.contains("account_name")) {
            std::string name;
            if (!r.get("account_name", name)) return std::nullopt;
            if (name.size() > 1024) {
                r.fail("account_name", "too long");
                return std::nullopt;
            }
            c.account_name = std::move(name);
        }
    } else if (j.contains("ssh_ip_allowlist") || j.contains("account_name")) {
        r.fail(j.contains("account_name") ? "account_name" : "ssh_ip_allowlist", "only with enforce_2fa");
        return std::nullopt;
    }

    std::unordered_set<std::string> ids, names;
    c.upserts.reserve(upserts->size());
    for (std::size_t i = 0; i < upserts->size(); ++i) {
        LoginMember m;
        const std::string path = element_path(r, "upserts", i);
        if (!parse_member((*upserts)[i], path, m, error)) return std::nullopt;
        if (m.user_id.empty()) {
            error = path + ".user_id: empty";
            return std::nullopt;
        }
        if (!ids.insert(m.user_id).second) {
            error = path + ".user_id: listed twice";
            return std::nullopt;
        }
        if (!names.insert(m.unix_name).second) {
            error = path + ".unix_name: listed twice";
            return std::nullopt;
        }
        c.upserts.push_back(std::move(m));
    }
    c.removed_user_ids.reserve(removed->size());
    for (std::size_t i = 0; i < removed->size(); ++i) {
        const json& v = (*removed)[i];
        const std::string path = element_path(r, "removed", i);
        if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
            error = path + ": must be a user id";
            return std::nullopt;
        }
        if (!ids.insert(v.get<std::string>()).second) {
            error = path + ": listed twice (or also upserted)";
            return std::nullopt;
        }
        c.removed_user_ids.push_back(v.get<std::string>());
    }
    if (!r.only({"revision", "upserts", "removed", "enforce_2fa", "ssh_ip_allowlist", "account_name"})) return std::nullopt;
    return c;
}

}  // namespace portal::ipc
