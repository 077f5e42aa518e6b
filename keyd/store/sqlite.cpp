#include "keyd/store/sqlite.h"

#include <sqlite3.h>

#include <climits>

namespace portal::store::sqlite {

namespace {

std::string message_of(sqlite3* db, int rc) {
    // sqlite3_errmsg describes the most recent failure on the connection, which is
    // the one we are reporting; fall back to the generic text without a connection.
    const char* m = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return m != nullptr ? std::string(m) : std::string("unknown SQLite error");
}

int checked_size(std::size_t n) {
    if (n > static_cast<std::size_t>(INT_MAX)) throw Error(SQLITE_TOOBIG, SQLITE_TOOBIG, "value too large");
    return static_cast<int>(n);
}

}  // namespace

bool Error::is_constraint() const noexcept { return code_ == SQLITE_CONSTRAINT; }
bool Error::is_unique_violation() const noexcept {
    return extended_code_ == SQLITE_CONSTRAINT_UNIQUE || extended_code_ == SQLITE_CONSTRAINT_PRIMARYKEY;
}
bool Error::is_foreign_key_violation() const noexcept { return extended_code_ == SQLITE_CONSTRAINT_FOREIGNKEY; }

// ---- Statement -------------------------------------------------------------------

void Statement::Finalizer::operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }

void Statement::fail(int rc) const {
    int extended = db_ != nullptr ? sqlite3_extended_errcode(db_) : rc;
    throw Error(rc & 0xff, extended, message_of(db_, rc));
}

Statement& Statement::bind(int index, std::string_view text) {
    int rc = sqlite3_bind_text(stmt_.get(), index, text.data(), checked_size(text.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) fail(rc);
    return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
    int rc = sqlite3_bind_int64(stmt_.get(), index, static_cast<sqlite3_int64>(value));
    if (rc != SQLITE_OK) fail(rc);
    return *this;
}

Statement& Statement::bind(int index, std::nullptr_t) {
    int rc = sqlite3_bind_null(stmt_.get(), index);
    if (rc != SQLITE_OK) fail(rc);
    return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& text) {
    return text ? bind(index, std::string_view(*text)) : bind(index, nullptr);
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
    // A zero-length blob is still a blob, not NULL: pass a non-null pointer.
    static const char empty = 0;
    const char* data = bytes.empty() ? &empty : bytes.data();
    int rc = sqlite3_bind_blob(stmt_.get(), index, data, checked_size(bytes.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) fail(rc);
    return *this;
}

bool Statement::step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    // With sqlite3_prepare_v2/v3 the step result already carries the extended code.
    int extended = rc;
    std::string msg = message_of(db_, rc);
    sqlite3_reset(stmt_.get());  // leave the statement reusable after a failure
    throw Error(rc & 0xff, extended, msg);
}

std::int64_t Statement::run() {
    while (step()) {
    }
    return static_cast<std::int64_t>(sqlite3_changes64(db_));
}

void Statement::reset() noexcept {
    if (!stmt_) return;
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
}

bool Statement::is_null(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }

std::int64_t Statement::column_int(int col) const {
    return static_cast<std::int64_t>(sqlite3_column_int64(stmt_.get(), col));
}

std::string Statement::column_text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_.get(), col);
    if (p == nullptr) return {};
    int n = sqlite3_column_bytes(stmt_.get(), col);  // after _text, as the docs require
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

std::optional<std::string> Statement::column_optional_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return column_text(col);
}

std::string Statement::column_blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_.get(), col);
    if (p == nullptr) return {};
    int n = sqlite3_column_bytes(stmt_.get(), col);
    return std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
}

// ---- Db --------------------------------------------------------------------------

void Db::Closer::operator()(sqlite3* db) const noexcept {
    // Statements are owned by the store and destroyed before the Db; _v2 tolerates
    // stragglers by deferring the close until they are finalized.
    sqlite3_close_v2(db);
}

void Db::fail(int rc, std::string_view context) const {
    int extended = db_ ? sqlite3_extended_errcode(db_.get()) : rc;
    std::string msg(context);
    msg += ": ";
    msg += message_of(db_.get(), rc);
    throw Error(rc & 0xff, extended, msg);
}

Db Db::open(const std::filesystem::path& path, int flags) {
    if (flags == 0) flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    // The store serializes access itself; NOMUTEX avoids a second lock per call.
    flags |= SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    Db db;
    db.db_.reset(raw);  // owns the handle even when opening failed
    if (rc != SQLITE_OK) db.fail(rc, "cannot open " + path.string());
    sqlite3_extended_result_codes(raw, 1);
    return db;
}

void Db::exec(std::string_view sql) {
    std::string copy(sql);  // sqlite3_exec wants a NUL-terminated string
    char* err = nullptr;
    int rc = sqlite3_exec(db_.get(), copy.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        throw Error(rc & 0xff, sqlite3_extended_errcode(db_.get()), msg);
    }
}

Statement Db::prepare(std::string_view sql, bool persistent) const {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0U;
    int rc = sqlite3_prepare_v3(db_.get(), sql.data(), checked_size(sql.size()), flags, &raw, &tail);
    Statement s(raw, db_.get());
    if (rc != SQLITE_OK) fail(rc, "prepare");
    if (raw == nullptr) throw Error(SQLITE_MISUSE, SQLITE_MISUSE, "prepare: empty SQL");
    return s;
}

std::int64_t Db::query_int(std::string_view sql) const {
    Statement s = prepare(sql);
    if (!s.step()) throw Error(SQLITE_NOTFOUND, SQLITE_NOTFOUND, "query returned no row");
    return s.column_int(0);
}

std::string Db::query_text(std::string_view sql) const {
    Statement s = prepare(sql);
    if (!s.step()) throw Error(SQLITE_NOTFOUND, SQLITE_NOTFOUND, "query returned no row");
    return s.column_text(0);
}

void Db::busy_timeout(int milliseconds) {
    int rc = sqlite3_busy_timeout(db_.get(), milliseconds);
    if (rc != SQLITE_OK) fail(rc, "busy_timeout");
}

std::int64_t Db::total_changes() const noexcept {
    return static_cast<std::int64_t>(sqlite3_total_changes64(db_.get()));
}

bool Db::in_transaction() const noexcept { return db_ && sqlite3_get_autocommit(db_.get()) == 0; }

}  // namespace portal::store::sqlite
