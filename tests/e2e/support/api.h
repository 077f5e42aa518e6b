// The daemon's v1 API on its Unix socket (docs/API.md), as root or as any uid: the caller is
// the socket peer's uid, so requests for a member run in a forked child that becomes that uid.
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace portal::e2e {

struct ApiResult {
    long status = 0;  // 0: no response
    std::string body;
    nlohmann::json json;  // null when not JSON
    std::string error;    // transport error
    std::string describe() const;
};

class Api {
public:
    explicit Api(std::filesystem::path socket) : socket_(std::move(socket)) {}

    ApiResult call(const std::string& method, const std::string& path, const std::optional<nlohmann::json>& body,
                   uid_t uid = 0, const std::string& account_id = "") const;
    ApiResult get(const std::string& path, uid_t uid = 0) const { return call("GET", path, std::nullopt, uid); }
    ApiResult post(const std::string& path, const nlohmann::json& body, uid_t uid = 0) const {
        return call("POST", path, body, uid);
    }
    ApiResult put(const std::string& path, const nlohmann::json& body, uid_t uid = 0) const {
        return call("PUT", path, body, uid);
    }
    ApiResult del(const std::string& path, uid_t uid = 0) const { return call("DELETE", path, std::nullopt, uid); }
    // Whether the socket answers at all (any HTTP status).
    bool answers() const;

private:
    std::filesystem::path socket_;
};

}  // namespace portal::e2e
