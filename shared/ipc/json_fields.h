// Strict, table-like reading of JSON objects for the login path (systemd's json_dispatch
// habit): each field is read with its type, missing or ill-typed fields and unknown fields
// are refused, and the first error names the field by its path ("members[2].uid").
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace portal::ipc {

class FieldReader {
public:
    // `path` prefixes field names in errors ("" for the top level). `error` receives this
    // reader's first problem (overwriting what it held); it must outlive the reader.
    FieldReader(const nlohmann::json& object, std::string path, std::string& error);

    bool ok() const { return ok_; }

    // Each returns false (and records an error) when the field is required and missing, or
    // present with the wrong type. An optional missing field leaves `out` untouched.
    bool get(std::string_view name, std::string& out, bool required = true);
    bool get(std::string_view name, bool& out, bool required = true);
    bool get(std::string_view name, std::int64_t& out, bool required = true);
    bool get(std::string_view name, std::uint64_t& out, bool required = true);
    bool get(std::string_view name, std::uint32_t& out, bool required = true);
    // Returns the array, or nullptr (with an error if required, or if not an array).
    const nlohmann::json* array(std::string_view name, bool required = true);

    // Refuses any member not in `known`.
    bool only(std::initializer_list<std::string_view> known);

    // Records an error about `name` (for checks the reader cannot make itself).
    bool fail(std::string_view name, std::string_view what);
    std::string field_path(std::string_view name) const;

private:
    const nlohmann::json* find(std::string_view name, bool required);

    const nlohmann::json& object_;
    std::string path_;
    std::string& error_;
    bool ok_ = true;
};

// The path of element `i` of array `name` under `parent` ("members[3]").
std::string element_path(const FieldReader& parent, std::string_view name, std::size_t i);

}  // namespace portal::ipc
