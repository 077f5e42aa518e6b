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

    ApiError(int s, std::string c, const std::string& message) : std::runtime_error(message), status(s), code(std::move(c)) {}

    static ApiError bad_request(const std::string& m) { return {400, "BAD_REQUEST", m}; }
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
