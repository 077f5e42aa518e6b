// The store's one SQLite connection (internal to keyd/store): the database, its cache of
// prepared statements, the lock that serializes every call, and write transactions that
// bump the revision. The tables (accounts_table.h, ...) each hold a Connection&.
//
// Change log (issue 9): every write goes through Connection::write, and each table's write
// methods are the one place that knows which entity they change. The hook goes there: a
// table records (entity kind, id, upsert|delete) through the Connection inside the same
// transaction, and transact() keeps bumping the revision once per committed write.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "keyd/store/sqlite.h"
#include "keyd/store/types.h"

namespace portal::store {

// SQLite's message for a violated UNIQUE constraint, as the API field that collided.
Conflict conflict_from(const sqlite::Error& e);

// Prepared statements, kept for the life of the connection and keyed by SQL text.
class StatementCache {
public:
    explicit StatementCache(sqlite::Db& db) : db_(&db) {}

private:
    friend class Query;
    struct SqlHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view sql) const noexcept { return std::hash<std::string_view>{}(sql); }
    };
    struct Cached {
        sqlite::Statement stmt;
        bool busy = false;
    };
    sqlite::Db* db_;
    std::unordered_map<std::string, Cached, SqlHash, std::equal_to<>> cache_;
};

class Connection {
public:
    // Opens (creating if needed, mode 0600, parent 0700) and migrates to the newest schema.
    static std::unique_ptr<Connection> open(const std::filesystem::path& db_path);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Serializes, and turns unique violations into Conflict wherever they surface.
    template <class F>
    auto locked(F&& f) -> decltype(f()) {
        std::lock_guard lock(mu_);
        try {
            return f();
        } catch (const sqlite::Error& e) {
            if (e.is_unique_violation()) throw conflict_from(e);
            throw;
        }
    }

    // Runs f inside BEGIN IMMEDIATE ... COMMIT, serialized; rolls back and rethrows if f
    // throws. Nested calls join the outer transaction through a savepoint.
    void write(const std::function<void()>& f) {
        locked([&] { transact(f); });
    }

    StatementCache& statements() { return stmts_; }
    int schema_version();
    std::int64_t meta_int(std::string_view key);

private:
    Connection() = default;
    void transact(const std::function<void()>& f);
    void rollback_quietly(const std::string& sql) noexcept;
    void bump_revision();

    // Declared first so it is destroyed last, after every cached statement.
    sqlite::Db db_;
    StatementCache stmts_{db_};
    std::recursive_mutex mu_;  // one connection: calls (and whole transactions) are serialized
    int depth_ = 0;            // transaction nesting
    std::int64_t changes_at_begin_ = 0;
};

// A cached statement borrowed for one use; reset when the borrow ends. If the same SQL
// is already in use further up the stack, a private copy is prepared instead.
class Query {
public:
    Query(Connection& conn, std::string_view sql) : Query(conn.statements(), sql) {}
    Query(StatementCache& c, std::string_view sql);
    ~Query();
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;
    sqlite::Statement* operator->() { return s_; }
    sqlite::Statement& operator*() { return *s_; }

private:
    StatementCache::Cached* slot_ = nullptr;
    sqlite::Statement own_;
    sqlite::Statement* s_ = nullptr;
};

}  // namespace portal::store
