#include "keyd/api/json_body.h"

#include "keyd/iam/errors.h"

namespace portal::api {

using iam::ApiError;

bool has_control_chars(const std::string& s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

JsonBody::JsonBody(const Request& req) {
    if (req.body.empty()) {
        doc_ = nlohmann::json::object();
        return;
    }
    if (auto ct = req.header("content-type"); ct && ct->rfind("application/json", 0) != 0)
        throw ApiError::bad_request("Content-Type must be application/json");
    doc_ = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (doc_.is_discarded()) throw ApiError::bad_request("request body is not valid JSON");
    if (!doc_.is_object()) throw ApiError::bad_request("request body must be a JSON object");
}

const nlohmann::json* JsonBody::take(const std::string& field, bool required) {
    seen_.insert(field);
    auto it = doc_.find(field);
    if (it == doc_.end() || it->is_null()) {
        if (required) throw ApiError::unprocessable(field, "is required");
        return nullptr;
    }
    return &*it;
}

std::optional<std::string> JsonBody::string(const std::string& field, bool required, std::size_t max_len) {
    const auto* v = take(field, required);
    if (!v) return std::nullopt;
    if (!v->is_string()) throw ApiError::unprocessable(field, "must be a string");
    auto s = v->get<std::string>();
    if (required && s.empty()) throw ApiError::unprocessable(field, "must not be empty");
    if (s.size() > max_len) throw ApiError::unprocessable(field, "must be at most " + std::to_string(max_len) + " bytes");
    if (has_control_chars(s)) throw ApiError::unprocessable(field, "must not contain control characters");
    return s;
}

std::optional<bool> JsonBody::boolean(const std::string& field, bool required) {
    const auto* v = take(field, required);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) throw ApiError::unprocessable(field, "must be true or false");
    return v->get<bool>();
}

std::optional<std::map<std::string, std::string>> JsonBody::labels(const std::string& field) {
    const auto* v = take(field, false);
    if (!v) return std::nullopt;
    if (!v->is_object()) throw ApiError::unprocessable(field, "must be an object of strings");
    if (v->size() > 32) throw ApiError::unprocessable(field, "at most 32 labels");
    std::map<std::string, std::string> out;
    for (auto it = v->begin(); it != v->end(); ++it) {
        const std::string& k = it.key();
        if (k.empty() || k.size() > 63 || has_control_chars(k) || k.find_first_of("=, ") != std::string::npos)
            throw ApiError::unprocessable(field, "label keys are 1-63 characters without '=', ',' or spaces");
        if (!it->is_string()) throw ApiError::unprocessable(field, "label values must be strings");
        auto val = it->get<std::string>();
        if (val.size() > 255 || has_control_chars(val) || val.find(',') != std::string::npos)
            throw ApiError::unprocessable(field, "label values are at most 255 characters without ','");
        out[k] = val;
    }
    return out;
}

void JsonBody::finish() const {
    for (auto it = doc_.begin(); it != doc_.end(); ++it)
        if (!seen_.count(it.key())) throw ApiError::unprocessable(it.key(), "unknown field");
}

}  // namespace portal::api
