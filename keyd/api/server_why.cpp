#include "keyd/api/server_why.h"

#include <cctype>
#include <ctime>
#include <string>
#include <string_view>

#include "keyd/iam/errors.h"
#include "keyd/store/timestamp.h"
#include "shared/cidr.h"
#include "shared/unix_name.h"

namespace portal::api {
namespace {

bool is_sha256_fingerprint(std::string_view f) {
    if (!f.starts_with("SHA256:")) return false;
    f.remove_prefix(7);
    if (f.size() != 43) return false;  // 32 bytes, unpadded base64
    for (char c : f)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
    return true;
}

bool is_md5_fingerprint(std::string_view f) {
    if (f.starts_with("MD5:")) f.remove_prefix(4);
    if (f.size() != 47) return false;  // 16 hex pairs, 15 colons
    for (std::size_t i = 0; i < f.size(); ++i) {
        const bool colon_place = i % 3 == 2;
        if (colon_place ? f[i] != ':' : !std::isxdigit(static_cast<unsigned char>(f[i]))) return false;
    }
    return true;
}

}  // namespace

login::ExplainQuery why_query(const Request& req) {
    for (const auto& [name, value] : req.query) {
        if (name != "user" && name != "from" && name != "key")
            throw iam::ApiError::bad_request("unknown query parameter '" + name.substr(0, 40) + "' (user, from, key)");
        if (req.query.count(name) > 1) throw iam::ApiError::bad_request("query parameter '" + name + "' given twice");
    }
    login::ExplainQuery q;
    const auto user = req.query.find("user");
    if (user == req.query.end()) throw iam::ApiError::bad_request("query parameter 'user' is required: the member's unix name");
    if (!is_valid_unix_name(user->second)) throw iam::ApiError::unprocessable("user", "not a unix user name");
    q.user = user->second;
    if (const auto from = req.query.find("from"); from != req.query.end()) {
        if (!parse_ip(from->second)) throw iam::ApiError::unprocessable("from", "not an IP address (IPv4 or IPv6 literal)");
        q.rhost = from->second;
    }
    if (const auto key = req.query.find("key"); key != req.query.end()) {
        if (!is_sha256_fingerprint(key->second) && !is_md5_fingerprint(key->second))
            throw iam::ApiError::unprocessable("key", "not a key fingerprint (SHA256:... as ssh-keygen -l prints it, or MD5 colon hex)");
        q.key = key->second;
    }
    return q;
}

nlohmann::json why_json(const login::Explanation& e) {
    auto opt = [](const std::optional<std::string>& s) { return s ? nlohmann::json(*s) : nlohmann::json(nullptr); };
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& r : e.rules)
        rules.push_back({{"rule", std::string(r.rule)},
                         {"pass", r.pass},
                         {"reason", r.pass ? nlohmann::json(nullptr) : nlohmann::json(std::string(r.reason))},
                         {"detail", r.detail}});
    nlohmann::json member = nullptr;
    if (e.member)
        member = {{"user_id", e.member->user_id},
                  {"unix_name", e.member->unix_name},
                  {"uid", e.member->uid},
                  {"role", std::string(to_string(e.member->role))},
                  {"status", std::string(to_string(e.member->status))},
                  {"tfa_enabled", e.member->tfa_enabled},
                  {"published", e.member->published},
                  {"keys", e.member->keys}};
    nlohmann::json key_match = nullptr;
    if (e.query.key && e.member) key_match = {{"fingerprint", *e.query.key}, {"matches", e.key_matches.value_or(false)}};
    return {{"user", e.query.user},
            {"from", opt(e.query.rhost)},
            {"key", opt(e.query.key)},
            {"portal_user", e.decision.portal_user},
            {"allow", e.decision.allow},
            {"reason", e.decision.reason},
            {"message", e.decision.message},
            {"tfa_required", e.decision.tfa_required},
            {"rules", rules},
            {"member", member},
            {"key_match", key_match},
            {"state",
             {{"account_id", e.account_id},
              {"revision", e.revision},
              {"generated_at",
               e.generated_at > 0 ? nlohmann::json(store::format_rfc3339(static_cast<std::time_t>(e.generated_at)))
                                  : nlohmann::json(nullptr)}}}};
}

}  // namespace portal::api
