#include "shared/ipc/json_fields.h"

#include <limits>

namespace portal::ipc {

using nlohmann::json;

FieldReader::FieldReader(const json& object, std::string path, std::string& error)
    : object_(object), path_(std::move(path)), error_(error) {
    if (!object_.is_object()) {
        ok_ = false;
        error_ = (path_.empty() ? std::string("message") : path_) + ": not an object";
    }
}

std::string FieldReader::field_path(std::string_view name) const {
    if (path_.empty()) return std::string(name);
    std::string p = path_;
    p += '.';
    p += name;
    return p;
}

bool FieldReader::fail(std::string_view name, std::string_view what) {
    if (ok_) {  // the first problem of this reader wins
        error_ = field_path(name);
        error_ += ": ";
        error_ += what;
    }
    ok_ = false;
    return false;
}

const json* FieldReader::find(std::string_view name, bool required) {
    if (!object_.is_object()) return nullptr;
    auto it = object_.find(name);
    if (it == object_.end()) {
        if (required) fail(name, "missing");
        return nullptr;
    }
    return &*it;
}

bool FieldReader::get(std::string_view name, std::string& out, bool required) {
    const json* v = find(name, required);
    if (!v) return !required && object_.is_object();
    if (!v->is_string()) return fail(name, "must be a string");
    out = v->get_ref<const std::string&>();
    return true;
}

bool FieldReader::get(std::string_view name, bool& out, bool required) {
    const json* v = find(name, required);
    if (!v) return !required && object_.is_object();
    if (!v->is_boolean()) return fail(name, "must be a boolean");
    out = v->get<bool>();
    return true;
}

bool FieldReader::get(std::string_view name, std::int64_t& out, bool required) {
    const json* v = find(name, required);
    if (!v) return !required && object_.is_object();
    if (v->is_number_unsigned()) {
        const auto u = v->get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return fail(name, "out of range");
        out = static_cast<std::int64_t>(u);
        return true;
    }
    if (!v->is_number_integer()) return fail(name, "must be an integer");
    out = v->get<std::int64_t>();
    return true;
}

bool FieldReader::get(std::string_view name, std::uint64_t& out, bool required) {
    const json* v = find(name, required);
    if (!v) return !required && object_.is_object();
    if (!v->is_number_integer()) return fail(name, "must be an integer");
    if (!v->is_number_unsigned()) return fail(name, "must not be negative");
    out = v->get<std::uint64_t>();
    return true;
}

bool FieldReader::get(std::string_view name, std::uint32_t& out, bool required) {
    std::uint64_t wide = 0;
    if (!get(name, wide, required)) return false;
    if (!object_.contains(name)) return true;  // optional and absent
    if (wide > std::numeric_limits<std::uint32_t>::max()) return fail(name, "out of range");
    out = static_cast<std::uint32_t>(wide);
    return true;
}

const json* FieldReader::array(std::string_view name, bool required) {
    const json* v = find(name, required);
    if (!v) return nullptr;
    if (!v->is_array()) {
        fail(name, "must be an array");
        return nullptr;
    }
    return v;
}

bool FieldReader::only(std::initializer_list<std::string_view> known) {
    if (!object_.is_object()) return false;
    for (auto it = object_.begin(); it != object_.end(); ++it) {
        bool found = false;
        for (auto k : known) found = found || it.key() == k;
        // Bounded: the key comes from the peer and may end up in a log line.
        if (!found) return fail(std::string_view(it.key()).substr(0, 64), "unknown field");
    }
    return ok_;
}

std::string element_path(const FieldReader& parent, std::string_view name, std::size_t i) {
    return parent.field_path(name) + "[" + std::to_string(i) + "]";
}

}  // namespace portal::ipc
