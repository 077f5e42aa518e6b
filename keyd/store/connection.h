// The store's one SQLite connection (internal to keyd/store): the database, its cache of
// prepared statements, the lock that serializes every call, and write transactions that
// bump the revision. The tables (accounts_table.h, ...) each hold a Connection&.
//
// Change log (change_log.h): every write goes through Connection::write, and each table's
// write methods are the one place that knows which entity they change: they record it here,
// inside the transaction; the commit gives the transaction its revision and logs its changes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "keyd/store/change_log.h"
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
    // throws. Nested calls join the outer transaction through a savepoint. A transaction
    // that changes rows must record() what it changed (else it is rolled back: StoreError).
    void write(const std::function<void()>& f) {
        locked([&] { transact(f, false); });
    }
    // For state that is not IAM state (2FA failure counters): no change recorded, no new
    // revision. Nested inside write(), it joins the outer transaction as write() does.
    void write_untracked(const std::function<void()>& f) {
        locked([&] { transact(f, true); });
    }
    // Records that the running write changed an entity (change_log.h). Recording the same
    // entity again in one transaction keeps one change, with the last op.
    void record(ChangeKind kind, ChangeOp op, std::string_view account_id, std::string_view user_id,
                std::string_view entity_id);

    void set_retention(const ChangeLogRetention& r, std::function<std::int64_t()> now_seconds);

    StatementCache& statements() { return stmts_; }
    int schema_version();
    std::int64_t meta_int(std::string_view key);

private:
    Connection() = default;
    void transact(const std::function<void()>& f, bool untracked);
    void rollback_quietly(const std::string& sql) noexcept;
    void commit_changes();
    void clear_pending() {
        pending_.clear();
        pending_index_.clear();
        op_undo_.clear();
    }
    void forget_pending_since(std::size_t pending_size, std::size_t undo_size);  // the revision, the log rows, compaction
    void compact(std::uint64_t revision);

    // Declared first so it is destroyed last, after every cached statement.
    sqlite::Db db_;
    StatementCache stmts_{db_};
    std::recursive_mutex mu_;  // one connection: calls (and whole transactions) are serialized
    int depth_ = 0;            // transaction nesting
    std::int64_t changes_at_begin_ = 0;
    bool untracked_ = false;          // of the outermost write
    std::vector<Change> pending_;     // recorded by the running transaction, revision unset
    std::map<std::tuple<ChangeKind, std::string, std::string>, std::size_t> pending_index_;
    std::vector<std::pair<std::size_t, ChangeOp>> op_undo_;  // ops overwritten, for savepoint rollback
    ChangeLogRetention retention_;
    std::function<std::int64_t()> now_seconds_;
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
