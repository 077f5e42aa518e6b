#include "keyd/api/json_body.h"

#include "keyd/iam/errors.h"

namespace portal::api {

using iam::ApiError;

namespace {

// Decodes the UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF), advancing i; false when it is not one.
bool next_code_point(std::string_view s, std::size_t& i, char32_t& cp) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = byte(i);
    std::size_t len = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
        cp = b0;
        ++i;
        return true;
    }
    if ((b0 & 0xe0) == 0xc0) {
        len = 2;
        cp = b0 & 0x1f;
        min = 0x80;
    } else if ((b0 & 0xf0) == 0xe0) {
        len = 3;
        cp = b0 & 0x0f;
        min = 0x800;
    } else if ((b0 & 0xf8) == 0xf0) {
        len = 4;
        cp = b0 & 0x07;
        min = 0x10000;
    } else {
        return false;
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
    return true;
}

bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029; }

bool is_bidi_control(char32_t cp) {
    return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

bool valid_utf8(std::string_view s) {
    char32_t cp = 0;
    for (std::size_t i = 0; i < s.size();)
        if (!next_code_point(s, i, cp)) return false;
    return true;
}

}  // namespace

std::optional<std::string> text_problem(std::string_view s) {
    char32_t cp = 0;
    for (std::size_t i = 0; i < s.size();) {
        if (!next_code_point(s, i, cp)) return "must be valid UTF-8";
        if (is_control(cp)) return "must not contain control characters";
        if (is_bidi_control(cp)) return "must not contain bidirectional text controls";
    }
    return std::nullopt;
}

JsonBody::JsonBody(const Request& req) {
    if (req.body.empty()) {
        doc_ = nlohmann::json::object();
        return;
    }
    if (auto ct = req.header("content-type"); ct && ct->rfind("application/json", 0) != 0)
        throw ApiError::bad_request("Content-Type must be application/json");
    if (!valid_utf8(req.body)) throw ApiError::bad_request("request body is not valid UTF-8");
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
    if (auto why = text_problem(s)) throw ApiError::unprocessable(field, *why);
    return s;
}

std::optional<std::string> JsonBody::email(const std::string& field, bool required) {
    auto e = string(field, required, 254);
    if (!e) return e;
    const auto at = e->find('@');
    const bool ok = at != std::string::npos && at > 0 && at + 1 < e->size() && e->find('@', at + 1) == std::string::npos &&
                    e->find_first_of(" \t<>\"'") == std::string::npos;
    if (!ok) throw ApiError::unprocessable(field, "must be an email address");
    return e;
}

std::optional<std::string> JsonBody::multiline(const std::string& field, bool required, std::size_t max_len) {
    const auto* v = take(field, required);
    if (!v) return std::nullopt;
    if (!v->is_string()) throw ApiError::unprocessable(field, "must be a string");
    std::string s;
    for (const char c : v->get_ref<const std::string&>()) {
        if (c == '\r') continue;  // CRLF -> LF; a lone CR is dropped too (it would overwrite a line)
        s += c;
    }
    if (required && s.empty()) throw ApiError::unprocessable(field, "must not be empty");
    if (s.size() > max_len) throw ApiError::unprocessable(field, "must be at most " + std::to_string(max_len) + " bytes");
    // Checked line by line, tabs aside: the rules of one-line text everywhere else.
    std::string line;
    for (const char c : s + "\n") {
        if (c != '\n') {
            line += c == '\t' ? ' ' : c;
            continue;
        }
        if (auto why = text_problem(line)) throw ApiError::unprocessable(field, *why);
        line.clear();
    }
    return s;
}

std::optional<std::vector<std::string>> JsonBody::strings(const std::string& field, bool required,
                                                          std::size_t max_items, std::size_t max_len) {
    const auto* v = take(field, required);
    if (!v) return std::nullopt;
    if (!v->is_array()) throw ApiError::unprocessable(field, "must be an array of strings");
    if (v->size() > max_items) throw ApiError::unprocessable(field, "at most " + std::to_string(max_items) + " items");
    std::vector<std::string> out;
    for (const auto& item : *v) {
        if (!item.is_string()) throw ApiError::unprocessable(field, "must be an array of strings");
        const auto& s = item.get_ref<const std::string&>();
        if (s.empty() || s.size() > max_len)
            throw ApiError::unprocessable(field, "items are 1 to " + std::to_string(max_len) + " bytes");
        if (auto why = text_problem(s)) throw ApiError::unprocessable(field, *why);
        out.push_back(s);
    }
    return out;
}

std::optional<bool> JsonBody::boolean(const std::string& field, bool required) {
    const auto* v = take(field, required);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) throw ApiError::unprocessable(field, "must be true or false");
    return v->get<bool>();
}

std::optional<std::int64_t> JsonBody::integer(const std::string& field, bool required, std::int64_t lo,
                                              std::int64_t hi) {
    const auto* v = take(field, required);
    if (!v) return std::nullopt;
    const std::string range = "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
    if (!v->is_number_integer()) throw ApiError::unprocessable(field, range);
    // Unsigned values above INT64_MAX are out of range whatever the bounds.
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
        throw ApiError::unprocessable(field, range);
    const auto n = v->get<std::int64_t>();
    if (n < lo || n > hi) throw ApiError::unprocessable(field, range);
    return n;
}

std::optional<std::map<std::string, std::string>> JsonBody::labels(const std::string& field) {
    const auto* v = take(field, false);
    if (!v) return std::nullopt;
    if (!v->is_object()) throw ApiError::unprocessable(field, "must be an object of strings");
    if (v->size() > 32) throw ApiError::unprocessable(field, "at most 32 labels");
    std::map<std::string, std::string> out;
    for (auto it = v->begin(); it != v->end(); ++it) {
        const std::string& k = it.key();
        if (k.empty() || k.size() > 63 || k.find_first_of("=, ") != std::string::npos)
            throw ApiError::unprocessable(field, "label keys are 1-63 characters without '=', ',' or spaces");
        if (auto why = text_problem(k)) throw ApiError::unprocessable(field, "label keys " + *why);
        if (!it->is_string()) throw ApiError::unprocessable(field, "label values must be strings");
        auto val = it->get<std::string>();
        if (val.size() > 255 || val.find(',') != std::string::npos)
            throw ApiError::unprocessable(field, "label values are at most 255 characters without ','");
        if (auto why = text_problem(val)) throw ApiError::unprocessable(field, "label values " + *why);
        out[k] = val;
    }
    return out;
}

void JsonBody::finish() const {
    for (auto it = doc_.begin(); it != doc_.end(); ++it)
        if (!seen_.count(it.key())) throw ApiError::unprocessable(it.key(), "unknown field");
}

}  // namespace portal::api
