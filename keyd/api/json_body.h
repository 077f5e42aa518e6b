// Strict reading of a JSON request body: it must be an object, every field is read
// through one of these typed accessors, and whatever is left over is an unknown field.
// Errors are ApiError 400 (not JSON) or 422 naming the field.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "keyd/api/http_types.h"

namespace portal::api {

class JsonBody {
public:
    explicit JsonBody(const Request& req);  // empty body reads as {}

    std::optional<std::string> string(const std::string& field, bool required, std::size_t max_len = 255);
    // An email address (one '@' with text on both sides, no spaces, quotes or angle brackets).
    std::optional<std::string> email(const std::string& field, bool required);
    // Text of several lines (a ticket message): as string(), but line feeds and tabs are kept
    // and CRLF becomes LF; other control characters are refused.
    std::optional<std::string> multiline(const std::string& field, bool required, std::size_t max_len);
    // An array of at most `max_items` strings (each as string(), at most `max_len` bytes).
    std::optional<std::vector<std::string>> strings(const std::string& field, bool required, std::size_t max_items,
                                                    std::size_t max_len);
    std::optional<bool> boolean(const std::string& field, bool required);
    // An integer within [lo, hi] (a JSON number without fraction; 1.0 and "1" are refused).
    std::optional<std::int64_t> integer(const std::string& field, bool required, std::int64_t lo, std::int64_t hi);
    std::optional<std::map<std::string, std::string>> labels(const std::string& field);
    // Throws 422 for the first field no accessor asked for.
    void finish() const;

private:
    const nlohmann::json* take(const std::string& field, bool required);
    nlohmann::json doc_;
    std::set<std::string> seen_;
};

// Why `s` is not acceptable as API text, or nullopt when it is. Refused: invalid UTF-8,
// control characters (C0, DEL, C1, U+2028/2029) and the invisible bidirectional controls
// that make a name display as something else (U+061C, U+200E/200F, U+202A-202E, U+2066-2069).
std::optional<std::string> text_problem(std::string_view s);

}  // namespace portal::api
