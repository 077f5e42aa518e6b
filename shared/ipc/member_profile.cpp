#include "shared/ipc/member_profile.h"

#include "shared/ipc/json_fields.h"
#include "shared/ipc/login_member_json.h"

namespace portal::ipc {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxText = 1024;  // names, emails, dates: far more than any valid one
constexpr std::size_t kMaxLabels = 64;

bool bounded(FieldReader& r, std::string_view name, const std::string& value) {
    if (value.size() > kMaxText) return r.fail(name, "too long");
    return true;
}

bool parse_labels(const json& object, FieldReader& r, std::map<std::string, std::string>& out) {
    const auto it = object.find("labels");
    if (it == object.end()) return r.fail("labels", "missing");
    if (!it->is_object()) return r.fail("labels", "not an object");
    if (it->size() > kMaxLabels) return r.fail("labels", "too many");
    for (const auto& [k, v] : it->items()) {
        if (!v.is_string() || k.size() > kMaxText || v.get_ref<const std::string&>().size() > kMaxText)
            return r.fail("labels", "each label must be a string of bounded size");
        out.emplace(k, v.get<std::string>());
    }
    return true;
}

bool parse_key_profile(const json& j, std::string path, KeyProfile& k, std::string& error) {
    FieldReader r(j, std::move(path), error);
    r.get("fingerprint_sha256", k.fingerprint_sha256);
    r.get("fingerprint", k.fingerprint);
    r.get("name", k.name);
    r.get("created_at", k.created_at);
    r.get("updated_at", k.updated_at);
    if (!r.ok() || !parse_labels(j, r, k.labels)) return false;
    if (!bounded(r, "fingerprint_sha256", k.fingerprint_sha256) || !bounded(r, "fingerprint", k.fingerprint) ||
        !bounded(r, "name", k.name) ||
        !bounded(r, "created_at", k.created_at) || !bounded(r, "updated_at", k.updated_at))
        return false;
    return r.only({"fingerprint_sha256", "fingerprint", "name", "labels", "created_at", "updated_at"});
}

}  // namespace

json profile_json(const MemberProfile& p) {
    json keys = json::array();
    for (const auto& k : p.keys)
        keys.push_back({{"fingerprint_sha256", k.fingerprint_sha256},
                        {"fingerprint", k.fingerprint},
                        {"name", k.name},
                        {"labels", k.labels},
                        {"created_at", k.created_at},
                        {"updated_at", k.updated_at}});
    return {{"email", p.email},         {"name", p.name},           {"created_at", p.created_at},
            {"updated_at", p.updated_at}, {"joined_at", p.joined_at}, {"keys", std::move(keys)}};
}

bool parse_profile(const json& j, std::string path, MemberProfile& p, std::string& error) {
    FieldReader r(j, std::move(path), error);
    r.get("email", p.email);
    r.get("name", p.name);
    r.get("created_at", p.created_at);
    r.get("updated_at", p.updated_at);
    r.get("joined_at", p.joined_at);
    const json* keys = r.array("keys");
    if (!r.ok()) return false;
    if (!bounded(r, "email", p.email) || !bounded(r, "name", p.name) || !bounded(r, "created_at", p.created_at) ||
        !bounded(r, "updated_at", p.updated_at) || !bounded(r, "joined_at", p.joined_at))
        return false;
    p.keys.reserve(keys->size());
    for (std::size_t i = 0; i < keys->size(); ++i) {
        KeyProfile k;
        if (!parse_key_profile((*keys)[i], element_path(r, "keys", i), k, error)) return false;
        p.keys.push_back(std::move(k));
    }
    return r.only({"email", "name", "created_at", "updated_at", "joined_at", "keys"});
}

std::shared_ptr<const std::string> profile_text(const MemberProfile& p) {
    return std::make_shared<const std::string>(profile_json(p).dump(-1, ' ', false, json::error_handler_t::replace));
}

std::optional<MemberProfile> read_profile(const LoginMember& m) {
    if (!m.profile) return std::nullopt;
    MemberProfile p;
    std::string error;
    const json j = json::parse(*m.profile, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !parse_profile(j, "profile", p, error)) return std::nullopt;  // checked when it came
    return p;
}

}  // namespace portal::ipc
