// ApiError: a refusal with the API's status, code and message. Thrown by the IAM layer
// and turned into the error object (PORTAL.md §3) at one boundary, the router.
#pragma once
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace portal::iam {

struct ApiError : std::runtime_error {
    int status;
    std::string code;
    std::map<std::string, std::string> errors;  // field -> why (422 only)
    std::optional<long> retry_after_seconds;    // 429 only
    bool credential_rejected = false;           // 401: a credential was sent and not accepted

    ApiError(int s, std::string c, const std::string& message) : std::runtime_error(message), status(s), code(std::move(c)) {}

    static ApiError bad_request(const std::string& m) { return {400, "BAD_REQUEST", m}; }
    // 401: the router adds WWW-Authenticate: Bearer. One message for unknown, expired and
    // revoked credentials: which one it was is nobody's business.
    static ApiError unauthorized(const std::string& m) { return {401, "UNAUTHORIZED", m}; }
    static ApiError credential_not_accepted() {
        ApiError e{401, "UNAUTHORIZED", "invalid, expired or revoked credential"};
        e.credential_rejected = true;
        return e;
    }
    static ApiError forbidden(const std::string& m) { return {403, "FORBIDDEN", m}; }
    static ApiError not_found(const std::string& m) { return {404, "NOT_FOUND", m}; }
    static ApiError conflict(const std::string& field, const std::string& m) {
        ApiError e{409, "MUST_BE_UNIQUE", m};
        e.errors[field] = "must be unique";
        return e;
    }
    static ApiError unprocessable(const std::string& field, const std::string& why) {
        ApiError e{422, "UNPROCESSABLE_ENTITY", field + ": " + why};
        e.errors[field] = why;
        return e;
    }
    static ApiError too_many(const std::string& m, long retry_after) {
        ApiError e{429, "TOO_MANY_REQUESTS", m};
        e.retry_after_seconds = retry_after;
        return e;
    }
};

}  // namespace portal::iam
