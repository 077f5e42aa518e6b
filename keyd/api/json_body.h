// Strict reading of a JSON request body: it must be an object, every field is read
// through one of these typed accessors, and whatever is left over is an unknown field.
// Errors are ApiError 400 (not JSON) or 422 naming the field.
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "keyd/api/http_types.h"

namespace portal::api {

class JsonBody {
public:
    explicit JsonBody(const Request& req);  // empty body reads as {}

    std::optional<std::string> string(const std::string& field, bool required, std::size_t max_len = 255);
    std::optional<bool> boolean(const std::string& field, bool required);
    std::optional<std::map<std::string, std::string>> labels(const std::string& field);
    // Throws 422 for the first field no accessor asked for.
    void finish() const;

private:
    const nlohmann::json* take(const std::string& field, bool required);
    nlohmann::json doc_;
    std::set<std::string> seen_;
};

// Text fields: valid UTF-8 is guaranteed by the parser; refuse control characters.
bool has_control_chars(const std::string& s);

}  // namespace portal::api
