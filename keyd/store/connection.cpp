#include "keyd/store/connection.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <utility>

#include "keyd/store/migrations.h"
#include "shared/ipc/unique_fd.h"

namespace portal::store {

namespace fs = std::filesystem;

namespace {

// ---- files and permissions --------------------------------------------------------

class UmaskGuard {
public:
    explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
    ~UmaskGuard() { ::umask(old_); }
    UmaskGuard(const UmaskGuard&) = delete;
    UmaskGuard& operator=(const UmaskGuard&) = delete;

private:
    mode_t old_;
};

using Fd = ipc::UniqueFd;

[[noreturn]] void fail_errno(const std::string& what, const fs::path& p) {
    throw StoreError(what + " " + p.string() + ": " + std::strerror(errno));
}

// Creates the parent directory (0700) and the database file (0600) when missing, and
// refuses a directory anyone may write to: another user could swap the database or
// its -wal file. An existing database (and its -wal/-shm) is tightened to 0600.
void prepare_files(const fs::path& db_path) {
    UmaskGuard mask(077);
    fs::path dir = db_path.parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
        fs::create_directories(dir, ec);  // 0777 & ~077 = 0700
        if (ec) throw StoreError("cannot create " + dir.string() + ": " + ec.message());
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) fail_errno("cannot stat", dir);
    if (!S_ISDIR(st.st_mode)) throw StoreError(dir.string() + " is not a directory");
    if ((st.st_mode & S_IWOTH) != 0) {
        throw StoreError("refusing to open the store: " + dir.string() + " is world-writable");
    }

    Fd fd(::open(db_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) fail_errno("cannot open", db_path);
    if (::fstat(fd.get(), &st) != 0) fail_errno("cannot stat", db_path);
    if (!S_ISREG(st.st_mode)) throw StoreError(db_path.string() + " is not a regular file");
    if ((st.st_mode & 077) != 0 && ::fchmod(fd.get(), 0600) != 0) fail_errno("cannot chmod", db_path);

    for (const char* suffix : {"-wal", "-shm"}) {
        fs::path side = db_path;
        side += suffix;
        if (::lstat(side.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
            if (::chmod(side.c_str(), 0600) != 0) fail_errno("cannot chmod", side);
        }
    }
}

}  // namespace

// ---- constraint names -> API fields ------------------------------------------------

// SQLite names the columns of the violated UNIQUE constraint or index in its message,
// "UNIQUE constraint failed: ssh_keys.account_id, ssh_keys.name"; each set of columns
// belongs to exactly one constraint of the schema (migrations.cpp).
Conflict conflict_from(const sqlite::Error& e) {
    static const std::pair<std::string_view, std::string_view> kFields[] = {
        {"users.email", "email"},
        {"users.unix_name", "unix_name"},
        {"users.uid", "uid"},
        {"users.id", "id"},
        {"accounts.id", "id"},
        {"ssh_keys.account_id, ssh_keys.name", "name"},
        {"ssh_keys.account_id, ssh_keys.fingerprint", "public_key"},
        {"memberships.account_id, memberships.user_id", "user_id"},
        {"tfa_recovery_codes.user_id, tfa_recovery_codes.code_hash", "recovery_codes"},
        {"tfa.user_id", "user_id"},
        {"api_tokens.user_id, api_tokens.name", "name"},
        {"ip_allowlist_entries.account_id, ip_allowlist_entries.cidr", "cidr"},
        {"contacts.account_id, contacts.email", "email"},
    };
    std::string_view msg = e.what();
    constexpr std::string_view kPrefix = "constraint failed: ";
    std::string_view cols;
    if (auto pos = msg.find(kPrefix); pos != std::string_view::npos) cols = msg.substr(pos + kPrefix.size());
    for (const auto& [c, field] : kFields) {
        if (cols == c) return Conflict(std::string(field), std::string(field) + " must be unique");
    }
    // Not in the table (a newer constraint): name the last column.
    std::string field(cols.substr(cols.rfind('.') == std::string_view::npos ? 0 : cols.rfind('.') + 1));
    if (field.empty()) field = "id";
    return Conflict(field, field + " must be unique");
}

// ---- prepared statements ------------------------------------------------------------

Query::Query(StatementCache& c, std::string_view sql) {
    auto it = c.cache_.find(sql);
    if (it == c.cache_.end()) {
        it = c.cache_.emplace(std::string(sql), StatementCache::Cached{c.db_->prepare(sql, true)}).first;
    }
    if (!it->second.busy) {
        slot_ = &it->second;
        slot_->busy = true;
        s_ = &slot_->stmt;
    } else {
        own_ = c.db_->prepare(sql);
        s_ = &own_;
    }
}

Query::~Query() {
    s_->reset();
    if (slot_ != nullptr) slot_->busy = false;
}

// ---- the connection -----------------------------------------------------------------------

std::unique_ptr<Connection> Connection::open(const fs::path& db_path) {
    prepare_files(db_path);
    // The constructor is private; make_unique cannot reach it.
    std::unique_ptr<Connection> c(new Connection());
    UmaskGuard mask(077);  // -wal and -shm are created on first use, 0600 too
    c->db_ = sqlite::Db::open(db_path);
    c->db_.busy_timeout(5000);
    // WAL + FULL: a commit is durable once COMMIT returns, even if we are SIGKILLed
    // (or the machine loses power) right after.
    std::string mode = c->db_.query_text("PRAGMA journal_mode = WAL");
    if (mode != "wal") throw StoreError("cannot enable WAL journal mode (got " + mode + ")");
    // cache_size: SQLite's default 2 MiB. The OS page cache holds the file anyway; a larger
    // private cache only adds to the daemon's RSS (bench/README.md, DaemonMemory).
    c->db_.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF; PRAGMA cache_size = -2048; PRAGMA temp_store = MEMORY;");
    if (c->db_.query_int("PRAGMA foreign_keys") != 1) throw StoreError("SQLite lacks foreign key support");
    migrate(c->db_);
    return c;
}

void Connection::transact(const std::function<void()>& f, bool untracked) {
    if (depth_ == 0) {
        db_.exec("BEGIN IMMEDIATE");
        changes_at_begin_ = db_.total_changes();
        untracked_ = untracked;
        clear_pending();
        depth_ = 1;
        try {
            f();
            if (!pending_.empty()) {
                commit_changes();
            } else if (db_.total_changes() != changes_at_begin_ && !untracked_) {
                // A table write method that forgot record(): consumers of the log would never
                // see the change. Refused, so that the test of that method fails.
                throw StoreError("internal error: a write changed the store without recording what it changed");
            }
            db_.exec("COMMIT");
        } catch (...) {
            depth_ = 0;
            clear_pending();
            rollback_quietly("ROLLBACK");
            throw;
        }
        depth_ = 0;
        clear_pending();
        return;
    }
    // Nested: joins the outer transaction, but a savepoint lets a failed inner
    // operation undo just itself (and what it recorded) if the caller catches and carries on.
    const std::string sp = "nested_" + std::to_string(depth_);
    db_.exec("SAVEPOINT " + sp);
    const std::size_t pending_before = pending_.size(), undo_before = op_undo_.size();
    ++depth_;
    try {
        f();
    } catch (...) {
        --depth_;
        rollback_quietly("ROLLBACK TO " + sp);
        rollback_quietly("RELEASE " + sp);
        forget_pending_since(pending_before, undo_before);
        throw;
    }
    --depth_;
    db_.exec("RELEASE " + sp);
}

void Connection::record(ChangeKind kind, ChangeOp op, std::string_view account_id, std::string_view user_id,
                        std::string_view entity_id) {
    if (depth_ == 0) throw std::logic_error("store: record() outside a write transaction");
    auto key = std::make_tuple(kind, std::string(account_id), std::string(entity_id));
    if (auto it = pending_index_.find(key); it != pending_index_.end()) {
        op_undo_.emplace_back(it->second, pending_[it->second].op);
        pending_[it->second].op = op;
        return;
    }
    pending_index_.emplace(std::move(key), pending_.size());
    pending_.push_back(Change{0, kind, op, std::string(account_id), std::string(user_id), std::string(entity_id)});
}

// A savepoint rolled back: what it recorded goes too (in proportion to what it recorded).
void Connection::forget_pending_since(std::size_t pending_size, std::size_t undo_size) {
    while (op_undo_.size() > undo_size) {
        pending_[op_undo_.back().first].op = op_undo_.back().second;
        op_undo_.pop_back();
    }
    while (pending_.size() > pending_size) {
        const Change& c = pending_.back();
        pending_index_.erase(std::make_tuple(c.kind, c.account_id, c.entity_id));
        pending_.pop_back();
    }
}

void Connection::set_retention(const ChangeLogRetention& r, std::function<std::int64_t()> now_seconds) {
    std::lock_guard lock(mu_);
    retention_ = r;
    if (now_seconds) now_seconds_ = std::move(now_seconds);
}

void Connection::commit_changes() {
    std::uint64_t revision = 0;
    {
        Query q(stmts_, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'"
                        " RETURNING CAST(value AS INTEGER)");
        if (!q->step()) throw StoreError("corrupt store: meta row missing");
        revision = static_cast<std::uint64_t>(q->column_int(0));
    }
    const std::int64_t now = now_seconds_ ? now_seconds_() : static_cast<std::int64_t>(::time(nullptr));
    Query q(stmts_, "INSERT INTO changes (revision, seq, kind, op, account_id, user_id, entity_id, changed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    std::int64_t seq = 0;
    for (const Change& c : pending_) {
        q->bind_all(static_cast<std::int64_t>(revision), seq++, to_string(c.kind), to_string(c.op), c.account_id,
                    c.user_id, c.entity_id, now);
        q->run();
        q->reset();
    }
    if (revision % kCompactEvery == 0) compact(revision);
}

// The newest revisions stay: at least min_revisions, at most max_revisions; in between,
// those younger than max_age. Work in proportion to what goes (changes_time index).
void Connection::compact(std::uint64_t revision) {
    const std::int64_t now = now_seconds_ ? now_seconds_() : static_cast<std::int64_t>(::time(nullptr));
    const auto below = [&](std::uint64_t n) { return revision > n ? revision - n : 0; };
    std::uint64_t cut = below(retention_.max_revisions);
    {
        Query q(stmts_, "SELECT MAX(revision) FROM changes WHERE changed_at < ?");
        q->bind(1, now - static_cast<std::int64_t>(retention_.max_age.count()));
        if (q->step() && !q->is_null(0)) {
            const auto aged = std::min(static_cast<std::uint64_t>(q->column_int(0)), below(retention_.min_revisions));
            cut = std::max(cut, aged);
        }
    }
    if (cut <= static_cast<std::uint64_t>(meta_int("changes_compacted_through"))) return;
    {
        Query q(stmts_, "DELETE FROM changes WHERE revision <= ?");
        q->bind(1, static_cast<std::int64_t>(cut)).run();
    }
    Query q(stmts_, "UPDATE meta SET value = ? WHERE key = 'changes_compacted_through'");
    q->bind(1, std::to_string(cut)).run();
}

void Connection::rollback_quietly(const std::string& sql) noexcept {
    if (!db_.in_transaction()) return;  // SQLite may already have rolled back (I/O error)
    try {
        db_.exec(sql);
    } catch (...) {  // the original error is the one worth reporting
    }
}

std::int64_t Connection::meta_int(std::string_view key) {
    return locked([&] {
        Query q(stmts_, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?");
        q->bind(1, key);
        if (!q->step()) throw StoreError("corrupt store: meta row missing");
        return q->column_int(0);
    });
}

int Connection::schema_version() {
    return locked([&] { return static_cast<int>(db_.query_int("PRAGMA user_version")); });
}

}  // namespace portal::store
