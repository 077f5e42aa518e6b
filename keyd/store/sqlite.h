// Small RAII wrappers over the SQLite3 C API: a connection (Db) and a prepared
// statement (Statement). Only the store uses them; no raw sqlite3* escapes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keyd/store/types.h"

struct sqlite3;
struct sqlite3_stmt;

namespace portal::store::sqlite {

// An SQLite failure. Derives from StoreError so anything that escapes the store is one;
// the store maps unique-constraint failures (is_unique_violation) to Conflict.
class Error : public StoreError {
public:
    Error(int code, int extended_code, const std::string& what)
        : StoreError(what), code_(code), extended_code_(extended_code) {}
    int code() const noexcept { return code_; }                    // primary result code
    int extended_code() const noexcept { return extended_code_; }  // e.g. SQLITE_CONSTRAINT_UNIQUE
    bool is_constraint() const noexcept;
    bool is_unique_violation() const noexcept;  // UNIQUE or PRIMARY KEY
    bool is_foreign_key_violation() const noexcept;

private:
    int code_;
    int extended_code_;
};

class Statement {
public:
    Statement() = default;
    Statement(Statement&&) noexcept = default;
    Statement& operator=(Statement&&) noexcept = default;

    // Parameters are 1-based, as in SQLite. Text and blobs are copied (SQLITE_TRANSIENT).
    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
    Statement& bind(int index, std::uint32_t value) { return bind(index, static_cast<std::int64_t>(value)); }
    Statement& bind(int index, bool value) { return bind(index, static_cast<std::int64_t>(value ? 1 : 0)); }
    Statement& bind(int index, std::nullptr_t);
    Statement& bind(int index, const std::optional<std::string>& text);
    Statement& bind_blob(int index, std::string_view bytes);

    // Binds every argument in order starting at parameter 1.
    template <class... Args>
    Statement& bind_all(const Args&... args) {
        int i = 0;
        (bind(++i, args), ...);
        return *this;
    }

    // Advances: true when a row is available, false when done. Throws Error.
    bool step();
    // Steps to completion (for writes); returns the number of rows changed.
    std::int64_t run();
    // Ready for reuse: resets and clears the bindings.
    void reset() noexcept;

    bool is_null(int col) const;
    std::int64_t column_int(int col) const;
    bool column_bool(int col) const { return column_int(col) != 0; }
    std::string column_text(int col) const;  // "" for NULL
    std::optional<std::string> column_optional_text(int col) const;
    std::string column_blob(int col) const;  // bytes as a string, "" for NULL

private:
    friend class Db;
    struct Finalizer {
        void operator()(sqlite3_stmt* s) const noexcept;
    };
    Statement(sqlite3_stmt* s, sqlite3* db) : stmt_(s), db_(db) {}
    [[noreturn]] void fail(int rc) const;

    std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
    sqlite3* db_ = nullptr;  // not owned: for error messages only
};

class Db {
public:
    // flags are sqlite3_open_v2 flags; the default opens read-write and creates.
    static Db open(const std::filesystem::path& path, int flags = 0);

    Db() = default;
    Db(Db&&) noexcept = default;
    Db& operator=(Db&&) noexcept = default;

    explicit operator bool() const noexcept { return db_ != nullptr; }

    // Runs one or more statements with no parameters and no result rows wanted.
    void exec(std::string_view sql);
    // persistent: a hint that the statement is cached and reused many times.
    Statement prepare(std::string_view sql, bool persistent = false) const;

    // Runs a query expected to yield one row; returns its first column as integer/text.
    std::int64_t query_int(std::string_view sql) const;
    std::string query_text(std::string_view sql) const;

    void busy_timeout(int milliseconds);
    std::int64_t total_changes() const noexcept;  // rows changed on this connection, ever
    bool in_transaction() const noexcept;         // false in autocommit mode

private:
    struct Closer {
        void operator()(sqlite3* db) const noexcept;
    };
    [[noreturn]] void fail(int rc, std::string_view context) const;

    std::unique_ptr<sqlite3, Closer> db_;
};

}  // namespace portal::store::sqlite
